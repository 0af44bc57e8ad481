/**
 * Reads of known length (Token.attributesKnownLength, through the native addon's one-call
 * C_GetAttributeValue) in the bridge: a warm CardReadFile takes no pkcs11js call and returns the same
 * bytes; a value whose length changed behind the cache's back is still read right (too small: the
 * pkcs11js read; shorter: its real length); a file another process replaced is searched for again;
 * a non-OK CK_RV is the same Pkcs11Error pkcs11js would throw, mapped by the same table.
 *
 * pkcs11js calls are counted with a pass-through wrapper around the process's one pkcs11js instance of
 * SoftHSM2; the C-level count (pkcs11-spy) is in test/native/pkcs11-direct.test.ts and
 * test/ksp/warm-path.test.ts.
 */
import assert from 'node:assert/strict';
import pkcs11js from 'pkcs11js';
import type { CardModule } from '../../minidriver/card-module.js';
import { EveryoneReadUserWriteAc } from '../../minidriver/constants.js';
import { FILE_APPLICATION, type TokenFileStore } from '../../pkcs11-bridge/card-files.js';
import { isStaleHandle, toCryptError } from '../../pkcs11-bridge/errors.js';
import type { Pkcs11Minidriver } from '../../pkcs11-bridge/index.js';
import { acquireModule, type LoadedModule, releaseModule } from '../../pkcs11-bridge/module-registry.js';
import { ckrOf } from '../../pkcs11-bridge/pkcs11.js';
import { shouldRetryWithFreshHandle, type Token } from '../../pkcs11-bridge/token.js';
import { makeToken, newDriver, openContext, pin, SOFTHSM2_MODULE } from './helpers.js';

const token = makeToken('br-one-call-reads');
const A = pkcs11js;

type Calls = Record<string, number>;

/**
 * pkcs11js calls on the module while `action` runs (every call still reaches SoftHSM2), leaving out
 * those on the object `ignore` (the directory's handle check, which is not the read under test).
 */
async function counting(module: LoadedModule, action: () => Promise<void>, ignore?: Buffer): Promise<Calls> {
  const target = module.pkcs11 as unknown as Record<string, (...args: unknown[]) => unknown>;
  const names = Object.getOwnPropertyNames(target).filter((n) => n.startsWith('C_') && typeof target[n] === 'function');
  const saved = names.map((name) => [name, Object.getOwnPropertyDescriptor(target, name)!] as const);
  const calls: Calls = {};
  for (const [name, descriptor] of saved) {
    const original = descriptor.value as (...args: unknown[]) => unknown;
    target[name] = function (this: unknown, ...args: unknown[]) {
      if (!(ignore && name === 'C_GetAttributeValue' && ignore.equals(args[1] as Buffer))) calls[name] = (calls[name] ?? 0) + 1;
      return original.apply(this, args);
    };
  }
  try {
    await action();
  } finally {
    for (const [name, descriptor] of saved) Object.defineProperty(target, name, descriptor);
  }
  return calls;
}

describe('pkcs11-bridge: reads of known length in one module call', () => {
  let driver: Pkcs11Minidriver;
  let ctx: CardModule;
  let module: LoadedModule;
  let tok: Token;
  let files: TokenFileStore;
  const dir = 'mscp'; // the user may create files there (the root needs the administrator)
  const name = 'onecall';
  const path = `${dir}/${name}`;

  before(async () => {
    driver = newDriver();
    ctx = await openContext(driver, token.label);
    await ctx.CardAuthenticatePin('user', pin(token.pin));
    module = acquireModule(SOFTHSM2_MODULE); // the driver's instance (one per process and path)
    ({ token: tok, files } = (ctx as unknown as { state: { token: Token; files: TokenFileStore } }).state);
    await ctx.CardCreateFile(dir, name, 0, EveryoneReadUserWriteAc);
    await ctx.CardWriteFile(dir, name, 0, Buffer.from('twelve bytes'));
  });

  after(async () => {
    releaseModule(module);
    await ctx.CardDeleteContext();
    await driver.close();
  });

  /** The file's cached CardFile (after a read, so the handle is known). */
  const cachedFile = () => tok.sync('test', (s) => files.lookup(s, path)!);
  /**
   * pkcs11js calls of the read itself: CardReadFile in a directory first checks the directory's cached
   * handle (TokenFileStore.lookup, outside this change), left out here.
   */
  const readCalls = (action: () => Promise<void>): Promise<Calls> =>
    counting(module, action, tok.sync('test', (s) => files.lookup(s, `${dir}/`)!.handle));

  it('SoftHSM2 through the bridge reads in one call (the addon is built and finds the module)', () => {
    assert.equal(tok.oneCallReads, true);
  });

  it('a warm CardReadFile: the same bytes, no pkcs11js call', async () => {
    assert.deepEqual(await ctx.CardReadFile(dir, name), Buffer.from('twelve bytes'));
    let value: Buffer | undefined;
    const calls = await readCalls(async () => { value = await ctx.CardReadFile(dir, name); });
    assert.deepEqual(calls, {});
    assert.deepEqual(value, Buffer.from('twelve bytes'));
    // And the bytes pkcs11js reads from the object are the same.
    const file = cachedFile();
    const [viaPkcs11js] = tok.sync('test', (s) => tok.attributes(s, file.handle, [A.CKA_VALUE]));
    assert.deepEqual(value, viaPkcs11js);
  });

  it('a value longer than the length last seen: CKR_BUFFER_TOO_SMALL, then the pkcs11js read; the new length is remembered', async () => {
    await ctx.CardReadFile(dir, name);
    cachedFile().valueLength = 5; // as if another writer had grown it since our last read
    let value: Buffer | undefined;
    const fallback = await readCalls(async () => { value = await ctx.CardReadFile(dir, name); });
    assert.deepEqual(value, Buffer.from('twelve bytes'));
    assert.deepEqual(fallback, { C_GetAttributeValue: 1 }, 'one pkcs11js read (two module calls) after the refused one');
    assert.equal(cachedFile().valueLength, 12);
    const again = await readCalls(async () => { value = await ctx.CardReadFile(dir, name); });
    assert.deepEqual(again, {}, 'one call again');
    assert.deepEqual(value, Buffer.from('twelve bytes'));
  });

  it('a value shorter than the length last seen: its real length, in the same one call', async () => {
    await ctx.CardReadFile(dir, name);
    cachedFile().valueLength = 40;
    let value: Buffer | undefined;
    const calls = await readCalls(async () => { value = await ctx.CardReadFile(dir, name); });
    assert.deepEqual(calls, {});
    assert.deepEqual(value, Buffer.from('twelve bytes'));
    assert.equal(cachedFile().valueLength, 12);
  });

  it('a file another process replaced (new object, old one destroyed): the stale handle is searched for again, the new value read', async () => {
    await ctx.CardReadFile(dir, name);
    const old = cachedFile().handle;
    const replacement = Buffer.from('a longer value written by someone else');
    // What another process's CardWriteFile does, on a session of its own.
    const slot = module.pkcs11.C_GetSlotList(true).find((s) => module.pkcs11.C_GetTokenInfo(s).label.trim() === token.label)!;
    const other = module.pkcs11.C_OpenSession(slot, A.CKF_SERIAL_SESSION | A.CKF_RW_SESSION);
    try {
      module.pkcs11.C_CreateObject(other, [
        { type: A.CKA_CLASS, value: A.CKO_DATA }, { type: A.CKA_TOKEN, value: true }, { type: A.CKA_PRIVATE, value: false },
        { type: A.CKA_MODIFIABLE, value: true }, { type: A.CKA_LABEL, value: path },
        { type: A.CKA_APPLICATION, value: `${FILE_APPLICATION};ac=${EveryoneReadUserWriteAc}` }, { type: A.CKA_VALUE, value: replacement },
      ]);
      module.pkcs11.C_DestroyObject(other, old);
    } finally {
      module.pkcs11.C_CloseSession(other);
    }
    assert.deepEqual(await ctx.CardReadFile(dir, name), replacement);
    assert.notDeepEqual(cachedFile().handle, old);
    const calls = await readCalls(async () => { assert.deepEqual(await ctx.CardReadFile(dir, name), replacement); });
    assert.deepEqual(calls, {}, 'warm again on the new object');
  });

  it('a non-OK CK_RV is the Pkcs11Error pkcs11js throws: a stale handle is recognised, and it maps to the same Windows code', async () => {
    const gone = tok.sync('test', (s) => {
      const h = module.pkcs11.C_CreateObject(s, [
        { type: A.CKA_CLASS, value: A.CKO_DATA }, { type: A.CKA_TOKEN, value: false }, { type: A.CKA_PRIVATE, value: false },
        { type: A.CKA_LABEL, value: 'gone' }, { type: A.CKA_VALUE, value: Buffer.from('x') },
      ]);
      module.pkcs11.C_DestroyObject(s, h);
      return h;
    });
    const failure = (read: (s: Buffer) => unknown): unknown => {
      try {
        tok.sync('test', read);
      } catch (err) {
        return (err as { cause?: unknown }).cause ?? err;
      }
      return assert.fail('the read of a destroyed object succeeded');
    };
    // Token.sync maps failures to CryptError; the error it wraps is what the read threw.
    const direct = failure((s) => tok.attributesKnownLength(s, gone, [{ type: A.CKA_LABEL, length: 4 }]));
    const viaPkcs11js = failure((s) => tok.attributes(s, gone, [A.CKA_LABEL]));
    assert.ok(direct instanceof pkcs11js.Pkcs11Error, String(direct));
    assert.equal(ckrOf(direct), A.CKR_OBJECT_HANDLE_INVALID);
    assert.equal(ckrOf(direct), ckrOf(viaPkcs11js));
    assert.equal((direct as Error).message, (viaPkcs11js as Error).message);
    assert.equal(isStaleHandle(ckrOf(direct)), true);
    assert.equal(shouldRetryWithFreshHandle(direct), true);
    const mapped = toCryptError(direct, { operation: 'test' });
    assert.equal(mapped.codeName, toCryptError(viaPkcs11js, { operation: 'test' }).codeName);
    assert.equal(mapped.codeName, 'SCARD_E_NO_KEY_CONTAINER');
  });
});
