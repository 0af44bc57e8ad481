import assert from 'node:assert/strict';
import crypto, { randomBytes } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import type { CardModule } from '../../minidriver/card-module.js';
import type { Pkcs11Minidriver } from '../../pkcs11-bridge/index.js';
import {
  assertNoSessionCheckedOut, CALG_RSA_KEYX, CALG_RSA_SIGN, CKO, cmapRecordBytes, CURVE, type CurveBits, ECC_MAGIC, eccPrivateBlob,
  expectCryptError, grapheneObjects, makeToken, newDriver, openContext, parseEccPublicBlob, parseRsaPublicBlob, pin,
  pointFromEcPointDer, readCmap, reversed, RSA1, type TokenObject, verifyEcdsa, openContextPerSuite
} from './helpers.js';

const token = makeToken('br-containers');

const AT_KEYEXCHANGE = 1;
const AT_SIGNATURE = 2;
const KEY_GEN = 1;
const KEY_IMPORT = 2;

interface Spec { index: number; keySpec: number; bits: number; kind: 'RSA' | 'EC'; slot: 'sig' | 'keyx'; name: string }
const SPECS: Spec[] = [
  { index: 0, keySpec: AT_KEYEXCHANGE, bits: 1024, kind: 'RSA', slot: 'keyx', name: 'AT_KEYEXCHANGE RSA 1024' },
  { index: 1, keySpec: AT_KEYEXCHANGE, bits: 2048, kind: 'RSA', slot: 'keyx', name: 'AT_KEYEXCHANGE RSA 2048' },
  { index: 2, keySpec: AT_KEYEXCHANGE, bits: 3072, kind: 'RSA', slot: 'keyx', name: 'AT_KEYEXCHANGE RSA 3072' },
  { index: 3, keySpec: AT_KEYEXCHANGE, bits: 4096, kind: 'RSA', slot: 'keyx', name: 'AT_KEYEXCHANGE RSA 4096' },
  { index: 4, keySpec: AT_SIGNATURE, bits: 2048, kind: 'RSA', slot: 'sig', name: 'AT_SIGNATURE RSA 2048' },
  { index: 5, keySpec: 3, bits: 256, kind: 'EC', slot: 'sig', name: 'AT_ECDSA_P256' },
  { index: 6, keySpec: 4, bits: 384, kind: 'EC', slot: 'sig', name: 'AT_ECDSA_P384' },
  { index: 7, keySpec: 5, bits: 521, kind: 'EC', slot: 'sig', name: 'AT_ECDSA_P521' },
  { index: 8, keySpec: 6, bits: 256, kind: 'EC', slot: 'keyx', name: 'AT_ECDHE_P256' },
  { index: 9, keySpec: 7, bits: 384, kind: 'EC', slot: 'keyx', name: 'AT_ECDHE_P384' },
  { index: 10, keySpec: 8, bits: 521, kind: 'EC', slot: 'keyx', name: 'AT_ECDHE_P521' },
];

describe('pkcs11-bridge: key containers', () => {
  let driver: Pkcs11Minidriver;
  let ctx: CardModule;
  const created = new Map<number, Spec>();

  const keysLabelled = (label: string): TokenObject[] =>
    grapheneObjects(token.label, token.pin).filter((o) => (o.cls === CKO.PRIVATE_KEY || o.cls === CKO.PUBLIC_KEY) && o.label === label);

  /** What a failed call must leave as it was: every object on the token, the cmapfile, cardcf, the pool. */
  const snapshot = async () => ({
    objects: grapheneObjects(token.label, token.pin).map((o) => `${o.cls}:${o.label}:${o.id}`).sort(),
    cmap: await ctx.CardReadFile('mscp', 'cmapfile'),
    cardcf: await ctx.CardReadFile(null, 'cardcf'),
  });

  openContextPerSuite(token.label, (d, c) => { driver = d; ctx = c; }, token.pin);

  describe('CARD_CREATE_CONTAINER_KEY_GEN and CardGetContainerInfo', () => {
    for (const spec of SPECS) {
      it(`${spec.name} at index ${spec.index}: blob equals the key graphene reads, private key locked down`, async function () {
        this.timeout(spec.bits >= 3072 ? 180_000 : 60_000);
        await ctx.CardCreateContainer(spec.index, KEY_GEN, spec.keySpec, spec.bits);
        const info = await ctx.CardGetContainerInfo(spec.index);
        assert.equal(info.dwVersion, 1);
        const blob = spec.slot === 'sig' ? info.pbSigPublicKey : info.pbKeyExPublicKey;
        const other = spec.slot === 'sig' ? info.pbKeyExPublicKey : info.pbSigPublicKey;
        assert.ok(blob, `the ${spec.slot} slot holds the key`);
        assert.equal(other, null, 'the other slot is empty');

        const record = (await readCmap(ctx))[spec.index];
        assert.ok(record, 'the cmapfile has a record at the index');
        const keys = keysLabelled(record.name);
        const priv = keys.filter((k) => k.cls === CKO.PRIVATE_KEY);
        const pub = keys.filter((k) => k.cls === CKO.PUBLIC_KEY);
        assert.equal(priv.length, 1, 'one private key labelled with the container name');
        assert.equal(pub.length, 1, 'one public key labelled with the container name');
        assert.equal(priv[0]!.token, true, 'CKA_TOKEN');
        assert.equal(priv[0]!.private, true, 'CKA_PRIVATE');
        assert.equal(priv[0]!.sensitive, true, 'CKA_SENSITIVE');
        assert.equal(priv[0]!.extractable, false, 'CKA_EXTRACTABLE');
        assert.ok(priv[0]!.id.length > 0, 'a CKA_ID');
        assert.equal(priv[0]!.id, pub[0]!.id, 'private and public key share CKA_ID');

        const message = randomBytes(64);
        if (spec.kind === 'RSA') {
          const p = parseRsaPublicBlob(blob);
          assert.equal(p.bType, 0x06, 'PUBLICKEYBLOB');
          assert.equal(p.bVersion, 2);
          assert.equal(p.reserved, 0);
          assert.equal(p.aiKeyAlg, spec.slot === 'sig' ? CALG_RSA_SIGN : CALG_RSA_KEYX);
          assert.equal(p.magic, RSA1);
          assert.equal(p.bitLen, spec.bits);
          assert.equal(p.pubExp, 65537);
          assert.equal(p.length, 20 + spec.bits / 8);
          assert.equal(priv[0]!.keyType, pkcs11js.CKK_RSA);
          assert.equal(p.modulus.toString('hex'), pub[0]!.modulus!.toString('hex'), 'blob modulus (little-endian) = CKA_MODULUS');
          // The blob's key also checks a signature the container makes.
          const signature = await ctx.CardSignData({
            dwVersion: 1, bContainerIndex: spec.index, dwKeySpec: spec.keySpec, dwSigningFlags: 0, aiHashAlg: 0x800c,
            pbData: crypto.createHash('sha256').update(message).digest(),
          });
          assert.ok(crypto.verify('sha256', message, p.key, reversed(signature)), 'signature verifies with the blob key');
        } else {
          const bits = spec.bits as CurveBits;
          const p = parseEccPublicBlob(blob);
          assert.equal(p.magic, ECC_MAGIC[spec.slot === 'sig' ? 'ECDSA' : 'ECDH'][bits].pub);
          assert.equal(p.cbKey, CURVE[bits].bytes);
          assert.equal(p.length, 8 + 2 * CURVE[bits].bytes);
          assert.equal(priv[0]!.keyType, pkcs11js.CKK_EC);
          assert.equal(pub[0]!.ecParams!.toString('hex'), CURVE[bits].oidHex, 'the curve asked for');
          const point = pointFromEcPointDer(pub[0]!.ecPoint!);
          assert.deepEqual(Buffer.concat([Buffer.from([4]), p.x, p.y]), point, 'blob X||Y = CKA_EC_POINT');
          if (spec.slot === 'sig') {
            assert.equal(priv[0]!.sign, true);
            const rs = await ctx.CardSignData({
              dwVersion: 1, bContainerIndex: spec.index, dwKeySpec: spec.keySpec, dwSigningFlags: 0, aiHashAlg: 0,
              pbData: crypto.createHash(CURVE[bits].hash).update(message).digest(),
            });
            assert.ok(verifyEcdsa(p.key, CURVE[bits].hash, message, rs), 'ECDSA signature verifies with the blob key');
          } else {
            assert.equal(priv[0]!.derive, true, 'an ECDH key derives');
            assert.notEqual(priv[0]!.sign, true, 'an ECDH key does not sign');
          }
        }
        created.set(spec.index, spec);
      });
    }

    it('the cmapfile read via CardReadFile lists every container: names, flags (0x03 default, 0x01 valid) and sizes', async () => {
      assert.ok(created.size >= 8, `enough containers were created (${created.size})`);
      const records = await readCmap(ctx);
      const last = Math.max(...created.keys());
      assert.ok(records.length >= last + 1);
      const names = new Set<string>();
      for (const [index, spec] of created) {
        const r = records[index];
        assert.ok(r, `record ${index}`);
        assert.ok(r.name.length > 0 && r.name.length <= 39 && !r.name.includes('\\'), `record ${index} name "${r.name}"`);
        assert.equal(r.flags, index === 0 ? 0x03 : 0x01, `record ${index} flags`);
        assert.equal(r.reserved, 0);
        assert.equal(r.sigBits, spec.slot === 'sig' ? spec.bits : 0, `record ${index} wSigKeySizeBits`);
        assert.equal(r.keyxBits, spec.slot === 'keyx' ? spec.bits : 0, `record ${index} wKeyExchangeKeySizeBits`);
        names.add(r.name);
      }
      assert.equal(names.size, created.size, 'container names are unique');
      assert.equal(records.filter((r) => r && r.flags & 2).length, 1, 'exactly one default container');
    });

    it('one container holds both an AT_KEYEXCHANGE and an AT_SIGNATURE key', async () => {
      await ctx.CardCreateContainer(11, KEY_GEN, AT_KEYEXCHANGE, 1024);
      await ctx.CardCreateContainer(11, KEY_GEN, AT_SIGNATURE, 2048);
      const info = await ctx.CardGetContainerInfo(11);
      assert.ok(info.pbKeyExPublicKey && info.pbSigPublicKey);
      assert.equal(parseRsaPublicBlob(info.pbKeyExPublicKey).aiKeyAlg, CALG_RSA_KEYX);
      assert.equal(parseRsaPublicBlob(info.pbKeyExPublicKey).bitLen, 1024);
      assert.equal(parseRsaPublicBlob(info.pbSigPublicKey).aiKeyAlg, CALG_RSA_SIGN);
      assert.equal(parseRsaPublicBlob(info.pbSigPublicKey).bitLen, 2048);
      const record = (await readCmap(ctx))[11]!;
      assert.equal(record.keyxBits, 1024);
      assert.equal(record.sigBits, 2048);
      const keys = keysLabelled(record.name);
      assert.equal(keys.length, 4, 'two key pairs labelled with the container name');
      const ids = new Set(keys.map((k) => k.id));
      assert.equal(ids.size, 2, 'two CKA_IDs');
      for (const id of ids) {
        assert.deepEqual(keys.filter((k) => k.id === id).map((k) => k.cls).sort(), [CKO.PUBLIC_KEY, CKO.PRIVATE_KEY].sort());
      }
    });

    it('KEY_GEN on an occupied slot replaces that key and keeps the other slot', async () => {
      const record = (await readCmap(ctx))[11]!;
      const before = await ctx.CardGetContainerInfo(11);
      const oldKeyxId = keysLabelled(record.name).find((k) => k.cls === CKO.PRIVATE_KEY && k.decrypt)!.id;
      await ctx.CardCreateContainer(11, KEY_GEN, AT_KEYEXCHANGE, 1024);
      const after = await ctx.CardGetContainerInfo(11);
      assert.notDeepEqual(after.pbKeyExPublicKey, before.pbKeyExPublicKey, 'a new key-exchange key');
      assert.deepEqual(after.pbSigPublicKey, before.pbSigPublicKey, 'the signature key stays');
      const keys = keysLabelled(record.name);
      assert.equal(keys.length, 4, 'still two key pairs');
      assert.ok(!keys.some((k) => k.id === oldKeyxId), 'the replaced key pair is gone from the token');
      assert.equal((await readCmap(ctx))[11]!.name, record.name, 'same container name');
    });

    it('uses the name of a cmapfile record written first, as Base CSP does, for the new key', async () => {
      const index = 12;
      const current = await ctx.CardReadFile('mscp', 'cmapfile');
      const padded = Buffer.concat([current, Buffer.alloc(Math.max(0, index * 86 - current.length))]).subarray(0, index * 86);
      await ctx.CardWriteFile('mscp', 'cmapfile', 0, Buffer.concat([padded, cmapRecordBytes('win-flow-container', 0x01)]));
      await ctx.CardCreateContainer(index, KEY_GEN, 3, 256);
      const record = (await readCmap(ctx))[index]!;
      assert.equal(record.name, 'win-flow-container');
      assert.equal(record.flags, 0x01);
      assert.equal(record.sigBits, 256);
      const keys = keysLabelled('win-flow-container');
      assert.deepEqual(keys.map((k) => k.cls).sort(), [CKO.PUBLIC_KEY, CKO.PRIVATE_KEY].sort());
      assert.ok((await readCmap(ctx))[0]!.flags === 0x03, 'the default container is still the first');
    });
  });

  describe('CardDeleteContainer', () => {
    it('zeroes the 86-byte record in place and destroys the key objects', async () => {
      const index = 13;
      await ctx.CardCreateContainer(index, KEY_GEN, 3, 256);
      const before = await ctx.CardReadFile('mscp', 'cmapfile');
      const record = (await readCmap(ctx))[index]!;
      const ids = new Set(keysLabelled(record.name).map((k) => k.id));
      assert.equal(ids.size, 1);
      await ctx.CardDeleteContainer(index);
      const after = await ctx.CardReadFile('mscp', 'cmapfile');
      assert.equal(after.length, before.length, 'records are never compacted');
      assert.deepEqual(after.subarray(index * 86, index * 86 + 86), Buffer.alloc(86), 'the record is 86 zero bytes');
      assert.deepEqual(after.subarray(0, index * 86), before.subarray(0, index * 86), 'the other records are untouched');
      const left = grapheneObjects(token.label, token.pin).filter((o) => o.label === record.name || ids.has(o.id));
      assert.deepEqual(left, [], 'graphene sees no object of the container');
      await expectCryptError(() => ctx.CardGetContainerInfo(index), 'SCARD_E_NO_KEY_CONTAINER');
      await expectCryptError(() => ctx.CardDeleteContainer(index), 'SCARD_E_NO_KEY_CONTAINER');
      await expectCryptError(() => ctx.CardSignData({ dwVersion: 1, bContainerIndex: index, dwKeySpec: 3, dwSigningFlags: 0, aiHashAlg: 0, pbData: randomBytes(32) }), 'SCARD_E_NO_KEY_CONTAINER');
    });

    it('deleting the default container leaves at most one default', async () => {
      await ctx.CardCreateContainer(14, KEY_GEN, 3, 256);
      await ctx.CardCreateContainer(15, KEY_GEN, 3, 256);
      const records = await readCmap(ctx);
      const defaultIndex = records.findIndex((r) => r !== null && (r.flags & 2) !== 0);
      assert.ok(defaultIndex >= 0);
      await ctx.CardDeleteContainer(defaultIndex);
      const after = await readCmap(ctx);
      assert.equal(after[defaultIndex], null);
      assert.ok(after.filter((r) => r && r.flags & 2).length <= 1, 'at most one default container');
      assert.ok(after.every((r) => r === null || (r.flags & ~3) === 0), 'no reserved flag bits');
    });
  });

  describe('bad input changes nothing on the token and leaks no session', () => {
    const empty = 50;
    const p256ecdh = () => eccPrivateBlob(crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, ECC_MAGIC.ECDH[256].priv, 256);

    const cases: { what: string; code: 'SCARD_E_INVALID_PARAMETER' | 'SCARD_E_NO_KEY_CONTAINER'; call: () => Promise<unknown> }[] = [
      { what: 'index 256', code: 'SCARD_E_INVALID_PARAMETER', call: () => ctx.CardCreateContainer(256, KEY_GEN, AT_KEYEXCHANGE, 2048) },
      { what: 'index -1', code: 'SCARD_E_INVALID_PARAMETER', call: () => ctx.CardCreateContainer(-1, KEY_GEN, AT_KEYEXCHANGE, 2048) },
      { what: 'index 1.5', code: 'SCARD_E_INVALID_PARAMETER', call: () => ctx.CardCreateContainer(1.5, KEY_GEN, AT_KEYEXCHANGE, 2048) },
      { what: 'unknown key spec 9', code: 'SCARD_E_INVALID_PARAMETER', call: () => ctx.CardCreateContainer(empty, KEY_GEN, 9, 2048) },
      { what: 'key spec 0', code: 'SCARD_E_INVALID_PARAMETER', call: () => ctx.CardCreateContainer(empty, KEY_GEN, 0, 2048) },
      { what: 'RSA 1000 bits', code: 'SCARD_E_INVALID_PARAMETER', call: () => ctx.CardCreateContainer(empty, KEY_GEN, AT_KEYEXCHANGE, 1000) },
      { what: 'RSA 8192 bits', code: 'SCARD_E_INVALID_PARAMETER', call: () => ctx.CardCreateContainer(empty, KEY_GEN, AT_KEYEXCHANGE, 8192) },
      { what: 'RSA 1536 bits (off the 1024 step)', code: 'SCARD_E_INVALID_PARAMETER', call: () => ctx.CardCreateContainer(empty, KEY_GEN, AT_SIGNATURE, 1536) },
      { what: 'P-256 with 384 bits', code: 'SCARD_E_INVALID_PARAMETER', call: () => ctx.CardCreateContainer(empty, KEY_GEN, 3, 384) },
      { what: 'flags 3', code: 'SCARD_E_INVALID_PARAMETER', call: () => ctx.CardCreateContainer(empty, 3, AT_KEYEXCHANGE, 2048) },
      { what: 'flags 0', code: 'SCARD_E_INVALID_PARAMETER', call: () => ctx.CardCreateContainer(empty, 0, AT_KEYEXCHANGE, 2048) },
      { what: 'KEY_IMPORT without key data', code: 'SCARD_E_INVALID_PARAMETER', call: () => ctx.CardCreateContainer(empty, KEY_IMPORT, AT_KEYEXCHANGE, 2048, null) },
      { what: 'info of an empty index', code: 'SCARD_E_NO_KEY_CONTAINER', call: () => ctx.CardGetContainerInfo(empty) },
      { what: 'info of index 256', code: 'SCARD_E_INVALID_PARAMETER', call: () => ctx.CardGetContainerInfo(256) },
      { what: 'info with flags 1', code: 'SCARD_E_INVALID_PARAMETER', call: () => ctx.CardGetContainerInfo(1, 1) },
      { what: 'delete an empty index', code: 'SCARD_E_NO_KEY_CONTAINER', call: () => ctx.CardDeleteContainer(empty) },
      { what: 'delete with dwReserved 1', code: 'SCARD_E_INVALID_PARAMETER', call: () => ctx.CardDeleteContainer(1, 1) },
    ];

    it('argument errors of CardCreateContainer / CardGetContainerInfo / CardDeleteContainer', async () => {
      await ctx.CardAuthenticatePin('user', pin(token.pin));
      const before = await snapshot();
      for (const c of cases) {
        await expectCryptError(c.call, c.code, c.what);
        assert.deepEqual(await snapshot(), before, `${c.what} left the token as it was`);
        assertNoSessionCheckedOut(ctx, c.what);
      }
    });

    const blobs = [
      { what: '10 garbage bytes as AT_KEYEXCHANGE', index: 40, spec: AT_KEYEXCHANGE, data: () => randomBytes(10) },
      { what: 'an ECDH private blob as AT_ECDSA_P256', index: 41, spec: 3, data: p256ecdh },
    ];
    for (const b of blobs) {
      it(`KEY_IMPORT of ${b.what} at an empty index is SCARD_E_INVALID_PARAMETER and leaves no container behind`, async () => {
        await ctx.CardAuthenticatePin('user', pin(token.pin));
        const before = await snapshot();
        await expectCryptError(() => ctx.CardCreateContainer(b.index, KEY_IMPORT, b.spec, 0, b.data()), 'SCARD_E_INVALID_PARAMETER', b.what);
        assertNoSessionCheckedOut(ctx, b.what);
        const left = (await readCmap(ctx))[b.index] ?? null;
        assert.ok(left === null, `a container record "${left?.name}" (flags 0x${left?.flags.toString(16)}) was left at index ${b.index}`);
        assert.deepEqual(await snapshot(), before, 'the token is unchanged');
      });
    }

    it('without the PIN: SCARD_W_SECURITY_VIOLATION and nothing changes', async () => {
      await ctx.CardDeauthenticate('user');
      try {
        const before = await snapshot();
        await expectCryptError(() => ctx.CardCreateContainer(empty, KEY_GEN, AT_KEYEXCHANGE, 2048), 'SCARD_W_SECURITY_VIOLATION', 'KEY_GEN');
        await expectCryptError(() => ctx.CardCreateContainer(empty, KEY_GEN, 3, 256), 'SCARD_W_SECURITY_VIOLATION', 'KEY_GEN EC');
        await expectCryptError(() => ctx.CardCreateContainer(empty, KEY_IMPORT, 3, 0, eccPrivateBlob(crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, ECC_MAGIC.ECDSA[256].priv, 256)), 'SCARD_W_SECURITY_VIOLATION', 'KEY_IMPORT');
        await expectCryptError(() => ctx.CardDeleteContainer(4), 'SCARD_W_SECURITY_VIOLATION', 'delete');
        assert.deepEqual(await snapshot(), before);
        assertNoSessionCheckedOut(ctx);
        assert.ok(await ctx.CardGetContainerInfo(4), 'container 4 is still there');
      } finally {
        await ctx.CardAuthenticatePin('user', pin(token.pin));
      }
    });
  });

  describe('a cmapfile written with content that is not a container map', () => {
    it('does not make the card unusable: CardReadFile returns what was written or CardWriteFile refused it; containers keep working', async () => {
      await ctx.CardAuthenticatePin('user', pin(token.pin));
      const good = await ctx.CardReadFile('mscp', 'cmapfile');
      const garbage = Buffer.from('not a container map');
      let refused = false;
      try {
        await ctx.CardWriteFile('mscp', 'cmapfile', 0, garbage);
      } catch (err) {
        refused = true;
        assert.equal((err as { codeName?: string }).codeName, 'SCARD_E_INVALID_PARAMETER', String(err));
      }
      try {
        const read = await ctx.CardReadFile('mscp', 'cmapfile');
        assert.deepEqual(read, refused ? good : garbage, refused ? 'the refused write left the file as it was' : 'the file reads back as written');
        assert.ok((await ctx.CardGetContainerInfo(4)).pbSigPublicKey, 'container 4 still answers');
        await ctx.CardSignData({ dwVersion: 2, bContainerIndex: 4, dwKeySpec: AT_SIGNATURE, dwSigningFlags: 0, aiHashAlg: 0x800c, pbData: randomBytes(32) });
      } finally {
        if (!refused) await ctx.CardWriteFile('mscp', 'cmapfile', 0, good);
      }
    });
  });
});
