/**
 * Several HSMs at once: two remote HSMs (two `p11-kit server`s, each serving one SoftHSM2 token) and
 * one local SoftHSM2 token, registered together by token identity. Selection picks among them by the
 * registry's rules, and a remote HSM that goes away fails its own keys' operations without falling
 * over to a same-named key on another HSM.
 *
 * Each remote HSM is its own module path (a symlink to p11-kit-client.so in the server's directory):
 * the bridge keeps one library instance per path, and p11-kit's client binds the server address that
 * P11_KIT_SERVER_ADDRESS holds when it is loaded, so each path is loaded once with its address set.
 * The local registration's driver shows only the local token: the rigs keep every token of the process
 * in one SoftHSM2 store, which a real machine's local HSM would not share with the remote ones.
 */
import assert from 'node:assert/strict';
import { verify } from 'node:crypto';
import { symlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { CardMinidriver, CardReaderState } from '../../minidriver/card-module.js';
import { ROLE_USER } from '../../minidriver/constants.js';
import { CryptError } from '../../minidriver/errors.js';
import { NCRYPT_PAD_PKCS1_FLAG, NCRYPT_READER_PROPERTY, NCRYPT_SHA256_ALGORITHM, NCRYPT_SILENT_FLAG } from '../../ksp/constants.js';
import { NCryptCreatePersistedKey, NCryptEnumKeys, NCryptFinalizeKey, NCryptOpenKey } from '../../ksp/keys.js';
import { NCryptGetProperty } from '../../ksp/properties.js';
import { NCryptFreeObject, NCryptOpenStorageProvider } from '../../ksp/provider.js';
import { NCryptSignHash } from '../../ksp/signing.js';
import type { NCryptProvHandle } from '../../ksp/handles.js';
import { acquireModule, type LoadedModule, releaseModule } from '../../pkcs11-bridge/module-registry.js';
import { Pkcs11Minidriver } from '../../pkcs11-bridge/index.js';
import { presentPin } from '../../smartcard/authentication.js';
import { setDefaultSmartCardService } from '../../smartcard/default-service.js';
import type { Registration } from '../../smartcard/registry/index.js';
import { SmartCardService } from '../../smartcard/service.js';
import { Interaction, setUserInterface } from '../../smartcard/ui.js';
import { digest, graphenePublicKey, makeToken } from '../pkcs11-bridge/helpers.js';
import { P11KIT_CLIENT_MODULE, P11KitRemote, SOFTHSM2_MODULE } from '../rigs/index.js';

const X = makeToken('several-hsm-x'); // remote HSM A
const Y = makeToken('several-hsm-y'); // remote HSM B
const Z = makeToken('several-hsm-z'); // local
const TOKENS = [X, Y, Z];
const SHARED = 'shared-name';
const MESSAGE = Buffer.from('several HSMs');

function reg(name: string, module: string, match: Registration['match'], installSequence: number, priority = 0): Registration {
  return { name, kind: 'minidriver', module, match, priority, installSequence, installedAt: new Date(Date.UTC(2024, 0, installSequence)).toISOString() };
}

describe('remote HSMs: several HSMs (two p11-kit servers and a local SoftHSM2) at once', function () {
  this.timeout(120_000);
  let a: P11KitRemote;
  let b: P11KitRemote;
  let linkA: string;
  let linkB: string;
  const bound: LoadedModule[] = [];
  let service: SmartCardService | undefined;
  let prov: NCryptProvHandle | undefined;

  /** Loads a remote HSM's client path bound to its server (see the header). */
  function bind(remote: P11KitRemote, path: string): void {
    process.env.P11_KIT_SERVER_ADDRESS = remote.address;
    bound.push(acquireModule(path));
  }

  function unbind(path: string): void {
    const index = bound.findIndex((m) => m.path === path);
    if (index >= 0) releaseModule(bound.splice(index, 1)[0]!);
  }

  function factory(modulePath: string): CardMinidriver {
    const driver = new Pkcs11Minidriver({ modulePath });
    const onlyLocal = (r: CardReaderState) => modulePath !== SOFTHSM2_MODULE || r.card?.label === Z.label;
    return {
      name: driver.name,
      listReaders: async () => (await driver.listReaders()).filter(onlyLocal),
      CardAcquireContext: driver.CardAcquireContext.bind(driver),
      releaseCard: (card: { label: string; serial: string }) => driver.releaseCard?.(card) ?? Promise.resolve(),
      close: () => driver.close(),
    } as CardMinidriver & { close(): Promise<void> };
  }

  async function openService(): Promise<void> {
    service = new SmartCardService({
      registrations: [
        reg('hsm-a', linkA, { label: X.label }, 1),
        reg('hsm-b', linkB, { serial: Y.serial }, 2),
        reg('local-z', SOFTHSM2_MODULE, { serial: Z.serial }, 3),
        // Precedence: a newer registration of the same card wins at equal priority...
        reg('hsm-a-newer', linkA, { label: X.label }, 4),
        // ...and a higher priority wins over a newer one.
        reg('hsm-b-preferred', linkB, { label: Y.label }, 0, 5),
        reg('hsm-b-newest', linkB, { label: Y.label }, 6),
      ],
      driverFactory: factory,
      globalCache: null,
    });
    await setDefaultSmartCardService(service);
    for (const entry of await service.snapshot()) {
      const token = TOKENS.find((t) => t.label === entry.card?.label);
      if (!token) continue;
      const card = await service.cardIn(entry);
      await presentPin({ card, pins: service.pins, interaction: new Interaction(true), pinId: ROLE_USER, operation: 'test' }, Buffer.from(token.pin));
    }
    prov = await NCryptOpenStorageProvider(null);
  }

  async function closeService(): Promise<void> {
    if (prov && !prov.freed) await NCryptFreeObject(prov);
    prov = undefined;
    await setDefaultSmartCardService(null);
    await service?.close();
    service = undefined;
  }

  async function readerOf(label: string): Promise<string> {
    const entry = (await service!.snapshot()).find((e) => e.card?.label === label);
    assert.ok(entry, `a reader shows ${label}`);
    return entry.szReader;
  }

  async function createKey(label: string, name: string): Promise<void> {
    const key = await NCryptCreatePersistedKey(prov!, 'RSA', `\\\\.\\${await readerOf(label)}\\${name}`, 0, NCRYPT_SILENT_FLAG);
    await NCryptFinalizeKey(key, NCRYPT_SILENT_FLAG);
    await NCryptFreeObject(key);
  }

  /** Signs with the key and tells which token's public key verifies it (graphene reads it locally). */
  async function signerOf(name: string): Promise<string> {
    const key = await NCryptOpenKey(prov!, name, 0, NCRYPT_SILENT_FLAG);
    try {
      const signature = await NCryptSignHash(key, { pszAlgId: NCRYPT_SHA256_ALGORITHM }, digest('sha256', MESSAGE), NCRYPT_PAD_PKCS1_FLAG);
      const keyName = name.split('\\').pop()!;
      const signers = TOKENS.filter((t) => {
        try {
          // CNG signatures are big-endian, as node:crypto takes them.
          return verify('sha256', MESSAGE, graphenePublicKey(t.label, keyName, 'RSA'), signature);
        } catch {
          return false; // no such key on that token
        }
      });
      assert.equal(signers.length, 1, 'exactly one token holds the signing key');
      return signers[0]!.label;
    } finally {
      await NCryptFreeObject(key);
    }
  }

  before(async () => {
    a = await P11KitRemote.start({ label: X.label });
    b = await P11KitRemote.start({ label: Y.label });
    linkA = join(a.dir, 'p11-kit-client.so');
    linkB = join(b.dir, 'p11-kit-client.so');
    symlinkSync(P11KIT_CLIENT_MODULE, linkA);
    symlinkSync(P11KIT_CLIENT_MODULE, linkB);
    bind(a, linkA);
    bind(b, linkB);
    await openService();
    await createKey(X.label, SHARED);
    await createKey(Y.label, SHARED);
    await createKey(X.label, 'only-on-x');
    await createKey(Z.label, 'only-on-z');
  });

  after(async () => {
    setUserInterface(null);
    await closeService();
    for (const m of bound.splice(0)) releaseModule(m);
    await a?.stop();
    await b?.stop();
  });

  it('lists the three HSMs, each served by the registration the precedence rules pick', async () => {
    const served = new Map((await service!.snapshot()).filter((e) => e.card).map((e) => [e.card!.label, { provider: e.provider, module: e.module }]));
    assert.deepEqual(served.get(X.label), { provider: 'hsm-a-newer', module: linkA }, 'equal priority: the most recently installed wins');
    assert.deepEqual(served.get(Y.label), { provider: 'hsm-b-preferred', module: linkB }, 'priority wins over install order');
    assert.deepEqual(served.get(Z.label), { provider: 'local-z', module: SOFTHSM2_MODULE });
    assert.equal(served.size, 3);
  });

  it('NCryptEnumKeys lists the keys of every HSM; a qualified name reaches the HSM it names', async () => {
    const names = (await NCryptEnumKeys(prov!, null, NCRYPT_SILENT_FLAG)).map((k) => k.pszName);
    assert.equal(names.filter((n) => n === SHARED).length, 2, `the shared name once per HSM: ${names.join(', ')}`);
    assert.ok(names.includes('only-on-x') && names.includes('only-on-z'), names.join(', '));
    assert.equal(await signerOf(`\\\\.\\${await readerOf(Y.label)}\\${SHARED}`), Y.label);
    assert.equal(await signerOf(`\\\\.\\${await readerOf(X.label)}\\${SHARED}`), X.label);
    assert.equal(await signerOf('only-on-z'), Z.label);
  });

  it('an unqualified name on two HSMs opens one of them, the same one each time, when nobody can be asked', async () => {
    const first = await signerOf(SHARED);
    assert.ok(first === X.label || first === Y.label, first);
    assert.equal(await signerOf(SHARED), first);
  });

  it('a remote HSM that goes away fails its key with the removal code and fails over to no other key; a restart serves new handles', async () => {
    const xReader = await readerOf(X.label);
    const key = await NCryptOpenKey(prov!, `\\\\.\\${xReader}\\${SHARED}`, 0, NCRYPT_SILENT_FLAG);
    assert.equal(await NCryptGetProperty(key, NCRYPT_READER_PROPERTY), xReader);
    await a.kill();
    let failure: unknown;
    try {
      await NCryptSignHash(key, { pszAlgId: NCRYPT_SHA256_ALGORITHM }, digest('sha256', MESSAGE), NCRYPT_PAD_PKCS1_FLAG);
    } catch (error) {
      failure = error;
    }
    await NCryptFreeObject(key);
    assert.ok(failure instanceof CryptError, `a CryptError, not a signature from another HSM: ${String(failure)}`);
    console.log(`      [several HSMs] signing on the lost HSM: ${failure.codeName}: ${failure.message}`);
    assert.equal(failure.codeName, 'SCARD_E_COMM_DATA_LOST', failure.message);

    // Reopening by name finds only what is really there: the shared name now means HSM B's key.
    assert.equal(await signerOf(SHARED), Y.label);
    // Listing goes on over the HSMs that are still there.
    const listed = await NCryptEnumKeys(prov!, null, NCRYPT_SILENT_FLAG);
    assert.ok(listed.some((k) => k.pszName === SHARED), 'the keys of the HSMs still there are listed');

    // The server comes back. p11-kit's client answers CKR_DEVICE_ERROR until it is initialised again,
    // so new handles come from a new service on a freshly loaded client.
    await a.restart();
    await closeService();
    unbind(linkA);
    bind(a, linkA);
    await openService();
    assert.equal(await signerOf(`\\\\.\\${await readerOf(X.label)}\\only-on-x`), X.label);
  });
});
