import { strict as assert } from 'node:assert';
import { cardIdFromSerial, cardIdToGuidString, decodeCardId, newCardId } from '../../minidriver/codecs/index.js';
import { expectCryptError } from './expect-crypt-error.js';

describe('minidriver codecs: cardid', () => {
  it('makes 16 random bytes each time', () => {
    const a = newCardId();
    const b = newCardId();
    assert.equal(a.length, 16);
    assert.equal(b.length, 16);
    assert.notDeepEqual(a, b);
  });

  it('accepts exactly 16 bytes and returns a copy', () => {
    const input = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
    const id = decodeCardId(input);
    assert.deepEqual(id, input);
    input[0] = 0xff;
    assert.equal(id[0], 0x00);
  });

  it('prints the GUID form with Data1..Data3 little-endian', () => {
    const id = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');
    assert.equal(cardIdToGuidString(id), '03020100-0504-0706-0809-0a0b0c0d0e0f');
    const upper = Buffer.from('ffeeddccbbaa99887766554433221100', 'hex');
    assert.equal(cardIdToGuidString(upper), 'ccddeeff-aabb-8899-7766-554433221100');
  });

  it('derives the identifier from a hex serial by repeating its bytes', () => {
    assert.equal(cardIdFromSerial('0123456789ABCDEF').toString('hex'), '0123456789abcdef0123456789abcdef');
    assert.equal(cardIdFromSerial('12:34:56').toString('hex'), '12345612345612345612345612345612');
    assert.equal(cardIdFromSerial('a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2').toString('hex'), 'a1b2c3d4e5f60718293a4b5c6d7e8f90');
  });

  it('uses the text bytes when the serial is not hex', () => {
    // "SN-42" → 53 4e 2d 34 32, repeated.
    assert.equal(cardIdFromSerial('SN-42').toString('hex'), '534e2d3432534e2d3432534e2d343253');
    // Odd number of hex digits is not hex for OpenSC: "ABC" → 41 42 43 repeated.
    assert.equal(cardIdFromSerial('ABC').toString('hex'), '41424341424341424341424341424341');
  });

  it('falls back to text when the hex serial is longer than 32 bytes', () => {
    const serial = '0a'.repeat(33);
    assert.equal(cardIdFromSerial(serial).toString('latin1'), serial.slice(0, 16));
  });

  it('ignores the blank padding of a PKCS#11 serialNumber', () => {
    assert.deepEqual(cardIdFromSerial('1234            '), cardIdFromSerial('1234'));
    assert.equal(cardIdFromSerial('1234            ').toString('hex'), '12341234123412341234123412341234');
  });

  it('gives 16 zero bytes for an empty serial', () => {
    assert.equal(cardIdFromSerial('').toString('hex'), '00'.repeat(16));
  });

  it('rejects malformed input with SCARD_E_INVALID_PARAMETER', () => {
    expectCryptError(() => decodeCardId(Buffer.alloc(15)), 'SCARD_E_INVALID_PARAMETER');
    expectCryptError(() => decodeCardId(Buffer.alloc(17)), 'SCARD_E_INVALID_PARAMETER');
    expectCryptError(() => decodeCardId('0011' as unknown as Buffer), 'SCARD_E_INVALID_PARAMETER');
    expectCryptError(() => cardIdToGuidString(Buffer.alloc(8)), 'SCARD_E_INVALID_PARAMETER');
    expectCryptError(() => cardIdFromSerial(42 as unknown as string), 'SCARD_E_INVALID_PARAMETER');
  });
});
