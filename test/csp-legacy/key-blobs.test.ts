import { strict as assert } from 'node:assert';
import { constants, generateKeyPairSync, privateDecrypt, publicEncrypt, randomBytes } from 'node:crypto';
import {
  decodePlaintextKeyBlob, decodeSimpleBlob, encodePlaintextKeyBlob, encodeSimpleBlob, readBlobHeader,
} from '../../csp-legacy/key-blobs.js';
import { expectCryptError } from '../minidriver/expect-crypt-error.js';

// Values typed from cryptoapi-cng.md §1.2 and §1.6, not imported from the module under test.
const SIMPLEBLOB = 0x1;
const PUBLICKEYBLOB = 0x6;
const PRIVATEKEYBLOB = 0x7;
const PLAINTEXTKEYBLOB = 0x8;
const OPAQUEKEYBLOB = 0x9;
const PUBLICKEYBLOBEX = 0xa;
const SYMMETRICWRAPKEYBLOB = 0xb;
const CALG_AES_128 = 0x660e;
const CALG_AES_256 = 0x6610;
const CALG_RC4 = 0x6801;
const CALG_RSA_KEYX = 0xa400;

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('csp-legacy key blobs (BLOBHEADER, SIMPLEBLOB, PLAINTEXTKEYBLOB)', () => {
  describe('readBlobHeader', () => {
    it('reads bType and the little-endian aiKeyAlg of every blob type wincrypt.h defines', () => {
      for (const bType of [SIMPLEBLOB, PUBLICKEYBLOB, PRIVATEKEYBLOB, PLAINTEXTKEYBLOB, OPAQUEKEYBLOB, PUBLICKEYBLOBEX, SYMMETRICWRAPKEYBLOB]) {
        const header = Buffer.from([bType, 0x02, 0x00, 0x00, 0x00, 0xa4, 0x00, 0x00]);
        assert.deepEqual(readBlobHeader(header), { bType, aiKeyAlg: CALG_RSA_KEYX });
      }
      assert.deepEqual(readBlobHeader(hex('08 02 0000 10660000 20000000')), { bType: PLAINTEXTKEYBLOB, aiKeyAlg: CALG_AES_256 });
    });

    it('reads a Uint8Array view at an offset', () => {
      const backing = new Uint8Array(20);
      backing.set([0x01, 0x02, 0x00, 0x00, 0x01, 0x68, 0x00, 0x00], 5);
      assert.deepEqual(readBlobHeader(backing.subarray(5, 13)), { bType: SIMPLEBLOB, aiKeyAlg: CALG_RC4 });
    });

    it('§3.1: shorter than 8 bytes, bVersion ≠ 2 or reserved ≠ 0 is NTE_BAD_DATA', () => {
      for (const length of [0, 1, 7]) {
        const err = expectCryptError(() => readBlobHeader(hex('0102000010660000').subarray(0, length)), 'NTE_BAD_DATA');
        assert.equal(err.operation, 'CryptImportKey');
      }
      expectCryptError(() => readBlobHeader(hex('01 01 0000 10660000')), 'NTE_BAD_DATA');
      expectCryptError(() => readBlobHeader(hex('01 03 0000 10660000')), 'NTE_BAD_DATA');
      expectCryptError(() => readBlobHeader(hex('01 02 0100 10660000')), 'NTE_BAD_DATA');
      expectCryptError(() => readBlobHeader(hex('01 02 0001 10660000')), 'NTE_BAD_DATA');
      expectCryptError(() => readBlobHeader(hex('42 03 0000 10660000')), 'NTE_BAD_DATA'); // the version is checked first
    });

    it('§3.1: a bType that is not a blob type is NTE_BAD_TYPE', () => {
      for (const bType of [0x00, 0x02, 0x05, 0x0c, 0x42, 0xff]) {
        expectCryptError(() => readBlobHeader(Buffer.from([bType, 0x02, 0, 0, 0x10, 0x66, 0, 0])), 'NTE_BAD_TYPE');
      }
    });

    it('input that is not bytes is ERROR_INVALID_PARAMETER', () => {
      expectCryptError(() => readBlobHeader('0102' as unknown as Uint8Array), 'ERROR_INVALID_PARAMETER');
      expectCryptError(() => readBlobHeader(null as unknown as Uint8Array), 'ERROR_INVALID_PARAMETER');
    });
  });

  describe('SIMPLEBLOB (§3.4)', () => {
    const encrypted = Buffer.from(Array.from({ length: 128 }, (_, i) => i + 1));

    it('encodes BLOBHEADER ‖ wrapping ALG_ID ‖ encrypted key, 12 + k bytes', () => {
      const blob = encodeSimpleBlob({ aiKeyAlg: CALG_AES_256, wrappingAlgId: CALG_RSA_KEYX, encryptedKeyLE: encrypted });
      assert.equal(blob.length, 140);
      assert.equal(blob.subarray(0, 12).toString('hex'), '01020000' + '10660000' + '00a40000');
      assert.deepEqual(blob.subarray(12), encrypted);
    });

    it('decodes what it encodes', () => {
      const blob = encodeSimpleBlob({ aiKeyAlg: CALG_RC4, wrappingAlgId: CALG_RSA_KEYX, encryptedKeyLE: encrypted });
      const decoded = decodeSimpleBlob(blob);
      assert.equal(decoded.aiKeyAlg, CALG_RC4);
      assert.equal(decoded.wrappingAlgId, CALG_RSA_KEYX);
      assert.deepEqual(decoded.encryptedKeyLE, encrypted);
    });

    it('returns everything after the 12-byte header, trailing bytes included (the import call checks k)', () => {
      const blob = Buffer.concat([hex('01 02 0000 0e660000 00a40000'), encrypted, Buffer.alloc(8, 0xee)]);
      assert.equal(blob.length, 148);
      const decoded = decodeSimpleBlob(blob);
      assert.equal(decoded.aiKeyAlg, CALG_AES_128);
      assert.deepEqual(decoded.encryptedKeyLE, Buffer.concat([encrypted, Buffer.alloc(8, 0xee)]));
      assert.equal(decodeSimpleBlob(hex('01 02 0000 0e660000 00a40000')).encryptedKeyLE.length, 0);
    });

    it('the encrypted part is a copy: changing the blob afterwards does not change it', () => {
      const blob = encodeSimpleBlob({ aiKeyAlg: CALG_AES_128, wrappingAlgId: CALG_RSA_KEYX, encryptedKeyLE: encrypted });
      const decoded = decodeSimpleBlob(blob);
      blob.fill(0);
      assert.deepEqual(decoded.encryptedKeyLE, encrypted);
    });

    it('shorter than 12 bytes, bVersion ≠ 2, reserved ≠ 0 → NTE_BAD_DATA; another blob type → NTE_BAD_TYPE', () => {
      for (const length of [0, 7, 8, 11]) expectCryptError(() => decodeSimpleBlob(hex('01 02 0000 0e660000 00a40000').subarray(0, length)), 'NTE_BAD_DATA');
      expectCryptError(() => decodeSimpleBlob(Buffer.concat([hex('01 01 0000 0e660000 00a40000'), encrypted])), 'NTE_BAD_DATA');
      expectCryptError(() => decodeSimpleBlob(Buffer.concat([hex('01 02 0200 0e660000 00a40000'), encrypted])), 'NTE_BAD_DATA');
      expectCryptError(() => decodeSimpleBlob(Buffer.concat([hex('08 02 0000 0e660000 10000000'), Buffer.alloc(16)])), 'NTE_BAD_TYPE');
      expectCryptError(() => decodeSimpleBlob(Buffer.concat([hex('06 02 0000 00a40000'), Buffer.alloc(140)])), 'NTE_BAD_TYPE');
      expectCryptError(() => decodeSimpleBlob(Buffer.concat([hex('33 02 0000 0e660000 00a40000'), encrypted])), 'NTE_BAD_TYPE');
    });

    it('encoder arguments of the wrong kind are ERROR_INVALID_PARAMETER', () => {
      expectCryptError(() => encodeSimpleBlob(null as unknown as Parameters<typeof encodeSimpleBlob>[0]), 'ERROR_INVALID_PARAMETER');
      expectCryptError(() => encodeSimpleBlob({ aiKeyAlg: CALG_AES_128, wrappingAlgId: CALG_RSA_KEYX, encryptedKeyLE: 'x' as unknown as Uint8Array }), 'ERROR_INVALID_PARAMETER');
      expectCryptError(() => encodeSimpleBlob({ aiKeyAlg: -1, wrappingAlgId: CALG_RSA_KEYX, encryptedKeyLE: encrypted }), 'ERROR_INVALID_PARAMETER');
      expectCryptError(() => encodeSimpleBlob({ aiKeyAlg: CALG_AES_128, wrappingAlgId: 2 ** 32, encryptedKeyLE: encrypted }), 'ERROR_INVALID_PARAMETER');
    });

    it('carries a node:crypto PKCS#1 v1.5 wrap reversed to little-endian, which unwraps after reversing back', () => {
      const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
      const sessionKey = randomBytes(32);
      const wrappedBE = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_PADDING }, sessionKey);
      const blob = encodeSimpleBlob({ aiKeyAlg: CALG_AES_256, wrappingAlgId: CALG_RSA_KEYX, encryptedKeyLE: Buffer.from(wrappedBE).reverse() });
      assert.equal(blob.length, 140);
      const { encryptedKeyLE } = decodeSimpleBlob(blob);
      // Node 20 refuses PKCS#1 v1.5 private decryption: recover the raw block and read the type 2 padding here.
      const block = privateDecrypt({ key: privateKey, padding: constants.RSA_NO_PADDING }, Buffer.from(encryptedKeyLE).reverse());
      assert.equal(block[0], 0x00);
      assert.equal(block[1], 0x02);
      const separator = block.indexOf(0x00, 2);
      assert.equal(separator, block.length - 33);
      assert.ok(block.subarray(2, separator).every((b) => b !== 0));
      assert.deepEqual(block.subarray(separator + 1), sessionKey);
    });
  });

  describe('PLAINTEXTKEYBLOB (§3.5)', () => {
    const key = hex('000102030405060708090a0b0c0d0e0f');

    it('encodes BLOBHEADER ‖ dwKeySize ‖ key bytes in natural order', () => {
      const blob = encodePlaintextKeyBlob(CALG_AES_128, key);
      assert.equal(blob.toString('hex'), '08020000' + '0e660000' + '10000000' + '000102030405060708090a0b0c0d0e0f');
      assert.equal(encodePlaintextKeyBlob(CALG_AES_128, Buffer.alloc(0)).toString('hex'), '080200000e66000000000000');
    });

    it('decodes the key as a view into the blob (no further copy of the secret)', () => {
      const blob = hex('08 02 0000 0e660000 10000000 000102030405060708090a0b0c0d0e0f');
      const decoded = decodePlaintextKeyBlob(blob);
      assert.equal(decoded.aiKeyAlg, CALG_AES_128);
      assert.deepEqual(decoded.keyBytes, key);
      blob.fill(0);
      assert.deepEqual(decoded.keyBytes, Buffer.alloc(16), 'wiping the blob wipes the view');
    });

    it('ignores bytes after the key; a dwKeySize of 0 gives an empty key', () => {
      const decoded = decodePlaintextKeyBlob(Buffer.concat([hex('08 02 0000 0e660000 10000000'), key, Buffer.alloc(5, 0xff)]));
      assert.deepEqual(decoded.keyBytes, key);
      assert.equal(decodePlaintextKeyBlob(hex('08 02 0000 0e660000 00000000')).keyBytes.length, 0);
    });

    it('a dwKeySize that overruns the blob is NTE_BAD_DATA', () => {
      expectCryptError(() => decodePlaintextKeyBlob(Buffer.concat([hex('08 02 0000 0e660000 11000000'), key])), 'NTE_BAD_DATA');
      expectCryptError(() => decodePlaintextKeyBlob(hex('08 02 0000 0e660000 ffffffff 00')), 'NTE_BAD_DATA');
      expectCryptError(() => decodePlaintextKeyBlob(hex('08 02 0000 0e660000 01000000')), 'NTE_BAD_DATA');
    });

    it('header faults are NTE_BAD_DATA; another blob type is NTE_BAD_TYPE', () => {
      for (const length of [0, 7, 8, 11]) expectCryptError(() => decodePlaintextKeyBlob(hex('08 02 0000 0e660000 10000000').subarray(0, length)), 'NTE_BAD_DATA');
      expectCryptError(() => decodePlaintextKeyBlob(Buffer.concat([hex('08 00 0000 0e660000 10000000'), key])), 'NTE_BAD_DATA');
      expectCryptError(() => decodePlaintextKeyBlob(Buffer.concat([hex('08 02 0100 0e660000 10000000'), key])), 'NTE_BAD_DATA');
      expectCryptError(() => decodePlaintextKeyBlob(Buffer.concat([hex('01 02 0000 0e660000 00a40000'), Buffer.alloc(128)])), 'NTE_BAD_TYPE');
      expectCryptError(() => decodePlaintextKeyBlob(Buffer.concat([hex('07 02 0000 00a40000'), Buffer.alloc(20)])), 'NTE_BAD_TYPE');
    });

    it('round-trips; encoder arguments of the wrong kind are ERROR_INVALID_PARAMETER', () => {
      const long = randomBytes(32);
      const decoded = decodePlaintextKeyBlob(encodePlaintextKeyBlob(CALG_AES_256, long));
      assert.equal(decoded.aiKeyAlg, CALG_AES_256);
      assert.deepEqual(decoded.keyBytes, long);
      expectCryptError(() => encodePlaintextKeyBlob(CALG_AES_256, [1, 2] as unknown as Uint8Array), 'ERROR_INVALID_PARAMETER');
      expectCryptError(() => encodePlaintextKeyBlob('AES' as unknown as number, long), 'ERROR_INVALID_PARAMETER');
      expectCryptError(() => decodePlaintextKeyBlob(undefined as unknown as Uint8Array), 'ERROR_INVALID_PARAMETER');
    });
  });
});
