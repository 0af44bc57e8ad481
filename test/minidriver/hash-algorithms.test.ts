import { strict as assert } from 'node:assert';
import { type KeyObject, constants, createHash, generateKeyPairSync, privateEncrypt, publicDecrypt, sign } from 'node:crypto';
import { HASH_ALGORITHMS, computeDigest, hashByCalg, hashByCngName } from '../../minidriver/hash-algorithms.js';

/** Recovers the PKCS#1 v1.5 encoded block of an RSA signature (s^e mod n), without unpadding. */
function encodedBlock(signature: Buffer, publicKey: KeyObject): Buffer {
  return publicDecrypt({ key: publicKey, padding: constants.RSA_NO_PADDING }, signature);
}

describe('minidriver hash-algorithms table', () => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const data = Buffer.from('the quick brown fox signs a hash');

  it('maps the CAPI ALG_IDs to CNG ids and digest lengths', () => {
    assert.deepEqual(HASH_ALGORITHMS.map((h) => [h.calg, h.cngName, h.digestLength]), [
      [0x8003, 'MD5', 16], [0x8004, 'SHA1', 20], [0x8008, null, 36],
      [0x800c, 'SHA256', 32], [0x800d, 'SHA384', 48], [0x800e, 'SHA512', 64],
    ]);
  });

  for (const hash of HASH_ALGORITHMS.filter((h) => h.nodeName !== null)) {
    it(`${hash.cngName}: prefix || hash is the DigestInfo inside a node:crypto PKCS#1 signature`, () => {
      const signature = sign(hash.nodeName!, data, privateKey);
      const block = encodedBlock(signature, publicKey);
      const digest = createHash(hash.nodeName!).update(data).digest();
      const digestInfo = Buffer.concat([hash.digestInfoPrefix, digest]);
      assert.equal(block.subarray(0, 2).toString('hex'), '0001');
      assert.deepEqual(block.subarray(block.length - digestInfo.length), digestInfo);
      assert.equal(block[block.length - digestInfo.length - 1], 0x00, 'separator before DigestInfo');
      assert.equal(block[block.length - digestInfo.length - 2], 0xff, 'padding before separator');
      assert.equal(digest.length, hash.digestLength);
      assert.deepEqual(computeDigest(hash, data), digest);
    });
  }

  it('SSL3_SHAMD5: MD5 || SHA1, 36 bytes, signed with no DigestInfo', () => {
    const ssl3 = hashByCalg(0x8008)!;
    assert.equal(ssl3.digestInfoPrefix.length, 0);
    assert.equal(ssl3.nodeName, null);
    const expected = Buffer.concat([createHash('md5').update(data).digest(), createHash('sha1').update(data).digest()]);
    const digest = computeDigest(ssl3, data);
    assert.deepEqual(digest, expected);
    assert.equal(digest.length, 36);
    // What CAPI signs: PKCS#1 type 1 over the bare 36 bytes.
    const block = encodedBlock(privateEncrypt({ key: privateKey, padding: constants.RSA_PKCS1_PADDING }, digest), publicKey);
    assert.deepEqual(block.subarray(block.length - 37), Buffer.concat([Buffer.from([0]), ssl3.digestInfoPrefix, digest]));
  });

  it('looks hashes up by ALG_ID and by CNG id (case-insensitively)', () => {
    assert.equal(hashByCalg(0x800c)?.cngName, 'SHA256');
    assert.equal(hashByCalg(0x8004)?.nodeName, 'sha1');
    assert.equal(hashByCalg(0x8001), undefined);
    assert.equal(hashByCngName('SHA384')?.calg, 0x800d);
    assert.equal(hashByCngName('sha512')?.calg, 0x800e);
    assert.equal(hashByCngName('MD4'), undefined);
    assert.equal(hashByCngName(''), undefined);
    assert.equal(hashByCngName(42 as unknown as string), undefined);
  });
});
