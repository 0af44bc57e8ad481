import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import type { CardModule } from '../../minidriver/card-module.js';
import type { Pkcs11Minidriver } from '../../pkcs11-bridge/index.js';
import { configurePinCounterShim } from '../rigs/index.js';
import {
  assertNoSessionCheckedOut, CKO, digest, expectCryptError, grapheneObjects, graphenePublicKey, makeToken, newDriver, openContext, pin,
  readCmap, verifyEcdsa,
} from './helpers.js';

// A token that fails key generation (the pin-counter shim's fault injection makes every
// C_GenerateKeyPair return CKR_DEVICE_MEMORY, a full card): a failed CardCreateContainer must leave
// what was there — above all an existing key the caller asked to replace.
const token = makeToken('br-atomic');

describe('pkcs11-bridge: a failed key generation changes nothing (full card via fault injection)', () => {
  let direct: Pkcs11Minidriver;
  let failing: Pkcs11Minidriver;
  let ctx: CardModule;
  let oldName: string;
  let oldBlob: Buffer;

  const snapshot = async () => ({
    objects: grapheneObjects(token.label, token.pin).map((o) => `${o.cls}:${o.label}:${o.id}`).sort(),
    cmap: await ctx.CardReadFile('mscp', 'cmapfile'),
  });

  before(async () => {
    // The existing container, made on SoftHSM2 directly.
    direct = newDriver();
    const setupCtx = await openContext(direct, token.label);
    await setupCtx.CardAuthenticatePin('user', pin(token.pin));
    await setupCtx.CardCreateContainer(0, 1, 3, 256);
    await direct.close();

    const setup = configurePinCounterShim({ failAfter: [{ after: 0, ckr: pkcs11js.CKR_DEVICE_MEMORY, function: 'C_GenerateKeyPair' }] });
    failing = newDriver(setup.modulePath);
    ctx = await openContext(failing, token.label);
    await ctx.CardAuthenticatePin('user', pin(token.pin));
    oldName = (await readCmap(ctx))[0]!.name;
    oldBlob = (await ctx.CardGetContainerInfo(0)).pbSigPublicKey!;
  });

  after(async () => {
    await ctx.CardDeleteContext();
    await failing.close();
    process.env.P11KSP_SHIM_FAIL_AFTER = '';
  });

  it('KEY_GEN at a new index: SCARD_E_WRITE_TOO_MANY (card full), no container record, no objects', async () => {
    const before = await snapshot();
    await expectCryptError(() => ctx.CardCreateContainer(1, 1, 3, 256), 'SCARD_E_WRITE_TOO_MANY');
    assertNoSessionCheckedOut(ctx);
    const left = (await readCmap(ctx))[1] ?? null;
    assert.ok(left === null, `a container record "${left?.name}" was left at index 1`);
    assert.deepEqual(await snapshot(), before);
  });

  it('KEY_GEN over an existing key: the error, and the old key still there and still signing', async () => {
    await expectCryptError(() => ctx.CardCreateContainer(0, 1, 3, 256), 'SCARD_E_WRITE_TOO_MANY');
    const keys = grapheneObjects(token.label, token.pin).filter((o) => o.label === oldName && (o.cls === CKO.PRIVATE_KEY || o.cls === CKO.PUBLIC_KEY));
    assert.equal(keys.length, 2, `the container's key pair survives (found ${keys.length} key objects)`);
    assert.deepEqual((await ctx.CardGetContainerInfo(0)).pbSigPublicKey, oldBlob);
    const m = randomBytes(16);
    const rs = await ctx.CardSignData({ dwVersion: 2, bContainerIndex: 0, dwKeySpec: 3, dwSigningFlags: 0, aiHashAlg: 0, pbData: digest('sha256', m) });
    assert.ok(verifyEcdsa(graphenePublicKey(token.label, oldName, 'EC', 256), 'sha256', m, rs));
    assert.equal((await readCmap(ctx))[0]!.sigBits, 256);
  });
});
