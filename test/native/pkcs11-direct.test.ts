/**
 * The addon's one-call attribute read (native/pkcs11-direct.cc) on a real SoftHSM2 token: the same
 * bytes as pkcs11js's read, the CK_RV and lengths a caller needs to fall back (a buffer too small, a
 * stale handle), no module it did not find already loaded, no crash on bad input — and, counted by
 * pkcs11-spy in a child process, one C_GetAttributeValue where pkcs11js makes two.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { endianness, tmpdir } from 'node:os';
import { join } from 'node:path';
import pkcs11js from 'pkcs11js';
import { secureMemoryAddonPath } from '../../native/index.js';
import {
  CK_UNAVAILABLE_INFORMATION, directAttributeReadStatus, getAttributeValueInto, isDirectAttributeReadAvailable,
} from '../../native/pkcs11-direct.js';
import { acquireModule, type LoadedModule, releaseModule } from '../../pkcs11-bridge/module-registry.js';
import { makeToken, SOFTHSM2_MODULE } from '../pkcs11-bridge/helpers.js';
import { distUrl, PKCS11_SPY_MODULE, runUnderSpy, spyAvailable } from './pkcs11-spy.js';
import { throwsCode } from '../support/throws-code.js';

const token = makeToken('native-direct');

/** A pkcs11js handle Buffer as the number it holds (native byte order). */
function handleNumber(handle: Buffer): number {
  assert.equal(handle.length, 8, 'CK_ULONG is 8 bytes on this platform');
  return Number(endianness() === 'LE' ? handle.readBigUInt64LE(0) : handle.readBigUInt64BE(0));
}


describe('native: one C_GetAttributeValue into caller buffers (getAttributeValueInto)', () => {
  let module: LoadedModule;
  let session: Buffer;
  let object: Buffer;
  const label = Buffer.from('native-direct/file', 'utf8');
  const value = randomBytes(37);
  const A = pkcs11js;

  const dataObject = (s: Buffer, l: Buffer, v: Buffer): Buffer => module.pkcs11.C_CreateObject(s, [
    { type: A.CKA_CLASS, value: A.CKO_DATA },
    { type: A.CKA_TOKEN, value: false },
    { type: A.CKA_PRIVATE, value: false },
    { type: A.CKA_LABEL, value: l.toString('utf8') },
    { type: A.CKA_VALUE, value: v },
  ]);

  before(() => {
    module = acquireModule(SOFTHSM2_MODULE); // the process's one instance (the root hook loaded it)
    const slot = module.pkcs11.C_GetSlotList(true).find((s) => module.pkcs11.C_GetTokenInfo(s).label.trim() === token.label);
    assert.ok(slot, `token ${token.label} not found`);
    session = module.pkcs11.C_OpenSession(slot, A.CKF_SERIAL_SESSION | A.CKF_RW_SESSION);
    object = dataObject(session, label, value);
  });

  after(() => {
    try { module.pkcs11.C_CloseSession(session); } finally { releaseModule(module); }
  });

  it('is available for the module pkcs11js loaded', () => {
    assert.equal(directAttributeReadStatus(SOFTHSM2_MODULE), null);
    assert.equal(isDirectAttributeReadAvailable(SOFTHSM2_MODULE), true);
  });

  it('reads the same bytes as pkcs11js (handles as pkcs11js Buffers or as numbers)', () => {
    const viaPkcs11js = module.pkcs11.C_GetAttributeValue(session, object, [{ type: A.CKA_LABEL }, { type: A.CKA_VALUE }]);
    assert.deepEqual(viaPkcs11js.map((a) => a.value), [label, value]);
    for (const [what, s, o] of [['Buffers', session, object], ['numbers', handleNumber(session), handleNumber(object)]] as const) {
      const into = [Buffer.alloc(label.length), Buffer.alloc(value.length)];
      const r = getAttributeValueInto(SOFTHSM2_MODULE, s, o, [{ type: A.CKA_LABEL, value: into[0]! }, { type: A.CKA_VALUE, value: into[1]! }]);
      assert.deepEqual(r, { rv: A.CKR_OK, lengths: [label.length, value.length] }, what);
      assert.deepEqual(into, viaPkcs11js.map((a) => a.value), what);
    }
  });

  it('a larger buffer: CKR_OK, the real length, the value at its start', () => {
    const into = Buffer.alloc(100, 0xee);
    const r = getAttributeValueInto(SOFTHSM2_MODULE, session, object, [{ type: A.CKA_VALUE, value: into }]);
    assert.deepEqual(r, { rv: A.CKR_OK, lengths: [value.length] });
    assert.deepEqual(into.subarray(0, value.length), value);
  });

  it('a buffer too small: CKR_BUFFER_TOO_SMALL and CK_UNAVAILABLE_INFORMATION for that attribute (also for a zero-length one)', () => {
    for (const size of [value.length - 1, 0]) {
      const into = [Buffer.alloc(label.length), Buffer.alloc(size)];
      const r = getAttributeValueInto(SOFTHSM2_MODULE, session, object, [{ type: A.CKA_LABEL, value: into[0]! }, { type: A.CKA_VALUE, value: into[1]! }]);
      assert.equal(r.rv, A.CKR_BUFFER_TOO_SMALL, `value buffer of ${size} bytes`);
      assert.equal(r.lengths[1], CK_UNAVAILABLE_INFORMATION, `value buffer of ${size} bytes`);
      assert.equal(r.lengths[0], label.length, 'the label still fits');
    }
  });

  it('an invalid object handle: CKR_OBJECT_HANDLE_INVALID; an invalid session: CKR_SESSION_HANDLE_INVALID', () => {
    const gone = dataObject(session, Buffer.from('native-direct/gone'), Buffer.from('x'));
    module.pkcs11.C_DestroyObject(session, gone);
    const into = Buffer.alloc(64);
    assert.equal(getAttributeValueInto(SOFTHSM2_MODULE, session, gone, [{ type: A.CKA_LABEL, value: into }]).rv, A.CKR_OBJECT_HANDLE_INVALID);
    assert.equal(getAttributeValueInto(SOFTHSM2_MODULE, 0xfffff, object, [{ type: A.CKA_LABEL, value: into }]).rv, A.CKR_SESSION_HANDLE_INVALID);
    // pkcs11js agrees on the code.
    assert.throws(() => module.pkcs11.C_GetAttributeValue(session, gone, [{ type: A.CKA_LABEL }]),
      (err: unknown) => err instanceof pkcs11js.Pkcs11Error && err.code === A.CKR_OBJECT_HANDLE_INVALID);
  });

  it('refuses a module that is not loaded in this process (never loads one), and a library that is not a PKCS#11 module', () => {
    const dir = mkdtempSync(join(tmpdir(), 'p11ksp-direct-'));
    try {
      // The same bytes as the loaded SoftHSM2, another file: not the instance pkcs11js loaded.
      const copy = join(dir, 'libsofthsm2-copy.so');
      copyFileSync(SOFTHSM2_MODULE, copy);
      for (const path of [copy, join(dir, 'missing.so')]) {
        assert.match(directAttributeReadStatus(path) ?? '', /not loaded in this process/, path);
        assert.equal(isDirectAttributeReadAvailable(path), false);
        throwsCode(() => getAttributeValueInto(path, session, object, [{ type: A.CKA_LABEL, value: Buffer.alloc(8) }]), Error, 'ERR_PKCS11_NOT_AVAILABLE', path);
      }
      assert.match(directAttributeReadStatus(copy) ?? '', /not loaded/, 'probing did not load it');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // Loaded, but no C_GetFunctionList: the addon itself.
    assert.match(directAttributeReadStatus(secureMemoryAddonPath()!) ?? '', /no C_GetFunctionList/);
  });

  it('bad arguments are TypeError/RangeError, never a crash', () => {
    const ok = [{ type: A.CKA_LABEL, value: Buffer.alloc(4) }];
    const call = (...args: unknown[]) => () => (getAttributeValueInto as (...a: unknown[]) => unknown)(...args);
    const typeErrors: [string, () => unknown][] = [
      ['no arguments', call()],
      ['path a number', call(1, session, object, ok)],
      ['session a string', call(SOFTHSM2_MODULE, 'session', object, ok)],
      ['object null', call(SOFTHSM2_MODULE, session, null, ok)],
      ['templates not an array', call(SOFTHSM2_MODULE, session, object, { length: 1 })],
      ['a template not an object', call(SOFTHSM2_MODULE, session, object, [3])],
      ['type a string', call(SOFTHSM2_MODULE, session, object, [{ type: '3', value: Buffer.alloc(4) }])],
      ['value a string', call(SOFTHSM2_MODULE, session, object, [{ type: A.CKA_LABEL, value: 'abcd' }])],
      ['value an Int16Array', call(SOFTHSM2_MODULE, session, object, [{ type: A.CKA_LABEL, value: new Int16Array(2) }])],
      ['value missing', call(SOFTHSM2_MODULE, session, object, [{ type: A.CKA_LABEL }])],
    ];
    for (const [what, action] of typeErrors) throwsCode(action, TypeError, 'ERR_INVALID_ARG_TYPE', what);
    const rangeErrors: [string, () => unknown][] = [
      ['empty path', call('', session, object, ok)],
      ['a 4-byte handle Buffer', call(SOFTHSM2_MODULE, Buffer.alloc(4), object, ok)],
      ['a negative handle', call(SOFTHSM2_MODULE, -1, object, ok)],
      ['a fractional handle', call(SOFTHSM2_MODULE, 1.5, object, ok)],
      ['a negative type', call(SOFTHSM2_MODULE, session, object, [{ type: -1, value: Buffer.alloc(4) }])],
      ['too many attributes', call(SOFTHSM2_MODULE, session, object, Array.from({ length: 65 }, () => ok[0]))],
    ];
    for (const [what, action] of rangeErrors) throwsCode(action, RangeError, 'ERR_OUT_OF_RANGE', what);
    throwsCode(call(`${SOFTHSM2_MODULE}\u0000x`, session, object, ok), TypeError, 'ERR_INVALID_ARG_TYPE', 'NUL in the path');
    // A getter that throws: its exception comes through, nothing is called.
    const hostile = [{ get type(): number { throw new Error('getter'); }, value: Buffer.alloc(4) }];
    assert.throws(call(SOFTHSM2_MODULE, session, object, hostile), /getter/);
    // A getter that detaches an earlier value's memory: every pointer is taken after the last getter ran.
    const detached = new Uint8Array(new ArrayBuffer(16));
    const sneaky = [
      { type: A.CKA_LABEL, value: detached },
      { get type(): number { structuredClone(detached.buffer, { transfer: [detached.buffer] }); return A.CKA_VALUE; }, value: Buffer.alloc(64) },
    ];
    const r = getAttributeValueInto(SOFTHSM2_MODULE, session, object, sneaky);
    assert.equal(detached.byteLength, 0, 'the first buffer was detached');
    assert.equal(r.rv, A.CKR_BUFFER_TOO_SMALL, 'and it was passed as a zero-length buffer');
  });

  it('counted by pkcs11-spy (child process): one C_GetAttributeValue, where pkcs11js makes two', function () {
    if (!spyAvailable()) this.skip();
    const out = runUnderSpy(`
      const { default: pkcs11js } = await import('pkcs11js');
      const direct = await import(${JSON.stringify(distUrl('native/pkcs11-direct.js'))});
      const SPY = process.env.SPY_MODULE;
      const p = new pkcs11js.PKCS11();
      p.load(SPY);
      p.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
      const slot = p.C_GetSlotList(true).find((s) => p.C_GetTokenInfo(s).label.trim() === process.env.SPY_LABEL);
      const session = p.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
      const value = Buffer.from('seventeen bytes!!');
      const object = p.C_CreateObject(session, [
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_DATA }, { type: pkcs11js.CKA_TOKEN, value: false },
        { type: pkcs11js.CKA_PRIVATE, value: false },        { type: pkcs11js.CKA_LABEL, value: 'spy/file' }, { type: pkcs11js.CKA_VALUE, value },
      ]);
      const status = direct.directAttributeReadStatus(SPY);
      let from = mark();
      const viaPkcs11js = p.C_GetAttributeValue(session, object, [{ type: pkcs11js.CKA_LABEL }, { type: pkcs11js.CKA_VALUE }]).map((a) => a.value.toString('hex'));
      const pkcs11jsCalls = callsSince(from);
      const into = [Buffer.alloc(8), Buffer.alloc(value.length)];
      from = mark();
      const r = direct.getAttributeValueInto(SPY, session, object, [{ type: pkcs11js.CKA_LABEL, value: into[0] }, { type: pkcs11js.CKA_VALUE, value: into[1] }]);
      const nativeCalls = callsSince(from);
      p.C_CloseSession(session);
      p.C_Finalize();
      console.log(JSON.stringify({ status, pkcs11jsCalls, nativeCalls, rv: r.rv, same: JSON.stringify(into.map((b) => b.toString('hex'))) === JSON.stringify(viaPkcs11js) }));
    `, SOFTHSM2_MODULE, { SPY_LABEL: token.label }) as { status: string | null; pkcs11jsCalls: object; nativeCalls: object; rv: number; same: boolean };
    assert.equal(out.status, null, `the addon finds ${PKCS11_SPY_MODULE}, loaded by pkcs11js`);
    assert.deepEqual(out.pkcs11jsCalls, { C_GetAttributeValue: 2 }, 'pkcs11js: lengths, then values');
    assert.deepEqual(out.nativeCalls, { C_GetAttributeValue: 1 }, 'the addon: one call');
    assert.equal(out.rv, A.CKR_OK);
    assert.equal(out.same, true, 'the same bytes');
  });
});
