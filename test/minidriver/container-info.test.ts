import { strict as assert } from 'node:assert';
import { generateKeyPairSync } from 'node:crypto';
import {
  type ContainerKeyDescription, buildContainerInfo, decodeEccBlob, decodeRsaPublicKeyBlob,
} from '../../minidriver/codecs/index.js';
import { expectCryptError } from './expect-crypt-error.js';

const b64 = (value: string): Buffer => Buffer.from(value, 'base64url');

function rsaKey(): ContainerKeyDescription & { kind: 'RSA' } {
  const jwk = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' });
  return { kind: 'RSA', modulus: b64(jwk.n!), publicExponent: b64(jwk.e!) };
}

function ecKey(): ContainerKeyDescription & { kind: 'EC' } {
  const jwk = generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).publicKey.export({ format: 'jwk' });
  return { kind: 'EC', curve: 'P-384', x: b64(jwk.x!), y: b64(jwk.y!) };
}

describe('minidriver codecs: CONTAINER_INFO', () => {
  it('tags RSA keys by slot: CALG_RSA_SIGN for signature, CALG_RSA_KEYX for key exchange', () => {
    const sig = rsaKey();
    const keyx = rsaKey();
    const info = buildContainerInfo({ signature: sig, keyExchange: keyx });
    assert.equal(info.dwVersion, 1);
    assert.equal(info.pbSigPublicKey!.subarray(4, 8).toString('hex'), '00240000');
    assert.equal(info.pbKeyExPublicKey!.subarray(4, 8).toString('hex'), '00a40000');
    assert.deepEqual(decodeRsaPublicKeyBlob(info.pbSigPublicKey!).modulus, sig.modulus);
    assert.deepEqual(decodeRsaPublicKeyBlob(info.pbKeyExPublicKey!).modulus, keyx.modulus);
  });

  it('tags EC keys by slot: ECDSA magic for signature, ECDH magic for key exchange', () => {
    const key = ecKey();
    const info = buildContainerInfo({ signature: key, keyExchange: key });
    assert.equal(info.pbSigPublicKey!.subarray(0, 4).toString('latin1'), 'ECS3');
    assert.equal(info.pbKeyExPublicKey!.subarray(0, 4).toString('latin1'), 'ECK3');
    const decoded = decodeEccBlob(info.pbKeyExPublicKey!);
    assert.equal(decoded.usage, 'ECDH');
    assert.deepEqual(decoded.x, key.x);
  });

  it('leaves an empty slot null', () => {
    const onlyKeyx = buildContainerInfo({ keyExchange: rsaKey() });
    assert.equal(onlyKeyx.pbSigPublicKey, null);
    assert.ok(onlyKeyx.pbKeyExPublicKey instanceof Buffer);
    const onlySig = buildContainerInfo({ signature: ecKey(), keyExchange: null });
    assert.ok(onlySig.pbSigPublicKey instanceof Buffer);
    assert.equal(onlySig.pbKeyExPublicKey, null);
  });

  it('rejects unknown key kinds and bad key material with SCARD_E_INVALID_PARAMETER', () => {
    const code = 'SCARD_E_INVALID_PARAMETER';
    expectCryptError(() => buildContainerInfo({ signature: { kind: 'DSA' } as unknown as ContainerKeyDescription }), code);
    expectCryptError(() => buildContainerInfo({ signature: { kind: 'EC', curve: 'P-256', x: Buffer.alloc(40, 1), y: Buffer.alloc(32) } }), code);
    expectCryptError(() => buildContainerInfo({ keyExchange: { kind: 'RSA', modulus: Buffer.alloc(0), publicExponent: Buffer.from([3]) } }), code);
    expectCryptError(() => buildContainerInfo(null as unknown as Parameters<typeof buildContainerInfo>[0]), code);
  });
});
