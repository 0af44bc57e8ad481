import { strict as assert } from 'node:assert';
import { deflateSync, inflateSync } from 'node:zlib';
import {
  certificateFileName, compressCertificate, decodeCertificateFile, parseCertificateFileName,
} from '../../minidriver/codecs/index.js';
import { expectCryptError } from './expect-crypt-error.js';

const AT_KEYEXCHANGE = 1;
const AT_SIGNATURE = 2;
const AT_ECDSA_P256 = 3;
const AT_ECDSA_P521 = 5;
const AT_ECDHE_P256 = 6;
const AT_ECDHE_P384 = 7;

/** A DER SEQUENCE { OCTET STRING (300 patterned bytes) } — long-form lengths, compressible. */
function sampleDer(): Buffer {
  const content = Buffer.alloc(300, 0).map((_, i) => (i * 7) % 251);
  const octets = Buffer.concat([Buffer.from([0x04, 0x82, 0x01, 0x2c]), content]);
  return Buffer.concat([Buffer.from([0x30, 0x82, 0x01, 0x30]), octets]);
}

describe('minidriver codecs: certificate files', () => {
  const der = sampleDer();

  it('compresses as 01 00 + WORD LE length + a zlib stream of the DER', () => {
    const file = compressCertificate(der);
    assert.equal(file.subarray(0, 4).toString('hex'), '0100' + '3401');
    assert.equal(der.length, 0x134);
    assert.equal(file[4], 0x78, 'zlib header, not raw deflate');
    assert.deepEqual(inflateSync(file.subarray(4)), der);
    assert.ok(file.length < der.length, 'patterned content compresses');
  });

  it('decodes its own compressed files and raw DER back to the DER', () => {
    assert.deepEqual(decodeCertificateFile(compressCertificate(der)), der);
    assert.deepEqual(decodeCertificateFile(der), der);
  });

  it('decodes a compressed file produced independently with zlib', () => {
    const header = Buffer.from([0x01, 0x00, der.length & 0xff, der.length >> 8]);
    assert.deepEqual(decodeCertificateFile(Buffer.concat([header, deflateSync(der, { level: 1 })])), der);
  });

  it('cuts raw DER at its encoded length when the file is padded', () => {
    assert.deepEqual(decodeCertificateFile(Buffer.concat([der, Buffer.alloc(20)])), der);
    const short = Buffer.from('3003020105', 'hex');
    assert.deepEqual(decodeCertificateFile(Buffer.concat([short, Buffer.from('ffff', 'hex')])), short);
    assert.deepEqual(decodeCertificateFile(compressCertificate(short)), short);
  });

  it('rejects content that is neither format, or damaged, with SCARD_E_INVALID_PARAMETER', () => {
    const code = 'SCARD_E_INVALID_PARAMETER';
    const file = compressCertificate(der);
    expectCryptError(() => decodeCertificateFile(Buffer.alloc(0)), code);
    expectCryptError(() => decodeCertificateFile(Buffer.from('abcdef', 'hex')), code);
    expectCryptError(() => decodeCertificateFile(Buffer.from('0200', 'hex')), code);
    expectCryptError(() => decodeCertificateFile(der.subarray(0, der.length - 1)), code);
    expectCryptError(() => decodeCertificateFile(Buffer.from('3080020105', 'hex')), code);
    expectCryptError(() => decodeCertificateFile(Buffer.from('30', 'hex')), code);
    const corrupt = Buffer.from(file);
    corrupt[corrupt.length - 1] ^= 0xff; // Adler-32 check value
    expectCryptError(() => decodeCertificateFile(corrupt), code);
    const wrongLength = Buffer.from(file);
    wrongLength.writeUInt16LE(der.length + 1, 2);
    expectCryptError(() => decodeCertificateFile(wrongLength), code);
    const tooShortDeclared = Buffer.from(file);
    tooShortDeclared.writeUInt16LE(10, 2);
    expectCryptError(() => decodeCertificateFile(tooShortDeclared), code);
    const notDer = Buffer.concat([Buffer.from([1, 0, 3, 0]), deflateSync(Buffer.from('abc'))]);
    expectCryptError(() => decodeCertificateFile(notDer), code);
    expectCryptError(() => decodeCertificateFile(Buffer.from('01000000', 'hex')), code);
    expectCryptError(() => decodeCertificateFile('30' as unknown as Buffer), code);
  });

  it('compresses only a single DER SEQUENCE that fits a WORD length', () => {
    const code = 'SCARD_E_INVALID_PARAMETER';
    expectCryptError(() => compressCertificate(Buffer.alloc(0)), code);
    expectCryptError(() => compressCertificate(Buffer.from('0403010203', 'hex')), code);
    expectCryptError(() => compressCertificate(Buffer.concat([der, Buffer.alloc(1)])), code);
    const huge = Buffer.concat([Buffer.from([0x30, 0x83, 0x01, 0x00, 0x00]), Buffer.alloc(0x10000)]);
    expectCryptError(() => compressCertificate(huge), code);
  });

  it('names certificate files kxcNN / kscNN with two lowercase hex digits', () => {
    assert.equal(certificateFileName(AT_KEYEXCHANGE, 0), 'kxc00');
    assert.equal(certificateFileName(AT_SIGNATURE, 10), 'ksc0a');
    assert.equal(certificateFileName(AT_ECDSA_P256, 1), 'ksc01');
    assert.equal(certificateFileName(AT_ECDSA_P521, 0x1f), 'ksc1f');
    assert.equal(certificateFileName(AT_ECDHE_P256, 2), 'kxc02');
    assert.equal(certificateFileName(AT_ECDHE_P384, 255), 'kxcff');
  });

  it('parses names case-insensitively as hex and round-trips every index', () => {
    assert.deepEqual(parseCertificateFileName('kxc00'), { keySpec: 'keyx', index: 0 });
    assert.deepEqual(parseCertificateFileName('KSC0A'), { keySpec: 'sig', index: 10 });
    assert.deepEqual(parseCertificateFileName('ksc10'), { keySpec: 'sig', index: 16 });
    assert.deepEqual(parseCertificateFileName('kxc2'), { keySpec: 'keyx', index: 2 });
    for (let index = 0; index < 256; index++) {
      assert.deepEqual(parseCertificateFileName(certificateFileName(AT_SIGNATURE, index)), { keySpec: 'sig', index });
      assert.deepEqual(parseCertificateFileName(certificateFileName(AT_KEYEXCHANGE, index)), { keySpec: 'keyx', index });
    }
  });

  it('answers null for names that are not certificate files', () => {
    for (const name of ['cmapfile', 'msroots', 'ksc', 'ksc100', 'kscg1', 'kxs00', ' ksc00', 'ksc00 ']) {
      assert.equal(parseCertificateFileName(name), null, name);
    }
  });

  it('rejects impossible names with SCARD_E_INVALID_PARAMETER', () => {
    const code = 'SCARD_E_INVALID_PARAMETER';
    expectCryptError(() => certificateFileName(AT_SIGNATURE, 256), code);
    expectCryptError(() => certificateFileName(AT_SIGNATURE, -1), code);
    expectCryptError(() => certificateFileName(AT_SIGNATURE, 1.5), code);
    expectCryptError(() => certificateFileName(9, 0), code);
    expectCryptError(() => certificateFileName(0, 0), code);
    expectCryptError(() => parseCertificateFileName(7 as unknown as string), code);
  });
});
