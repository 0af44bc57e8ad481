import { strict as assert } from 'node:assert';
import { bumpCardCf, decodeCardCf, encodeCardCf, newCardCf } from '../../minidriver/codecs/index.js';
import { expectCryptError } from './expect-crypt-error.js';

const PINS = 1;
const CONTAINERS = 2;
const FILES = 4;

describe('minidriver codecs: cardcf (CARD_CACHE_FILE_FORMAT)', () => {
  it('decodes the fixed 6-byte little-endian layout', () => {
    const value = decodeCardCf(Buffer.from('01053412a8f0', 'hex'));
    assert.equal(value.bVersion, 1);
    assert.equal(value.bPinsFreshness, 5);
    assert.equal(value.wContainersFreshness, 0x1234);
    assert.equal(value.wFilesFreshness, 0xf0a8);
    assert.equal(value.trailer.length, 0);
  });

  it('encodes to exactly the bytes it was decoded from', () => {
    const value = { bVersion: 1, bPinsFreshness: 0xfe, wContainersFreshness: 0x0102, wFilesFreshness: 0xa0b0, trailer: Buffer.alloc(0) };
    assert.equal(encodeCardCf(value).toString('hex'), '01fe0201b0a0');
  });

  it('creates a new file as six zero bytes', () => {
    assert.equal(encodeCardCf(newCardCf()).toString('hex'), '000000000000');
  });

  it('keeps trailing per-application DWORDs verbatim through decode, bump and encode', () => {
    const file = Buffer.from('010002000300' + '11223344' + 'aabbccdd' + 'ee', 'hex');
    const decoded = decodeCardCf(file);
    assert.equal(decoded.trailer.toString('hex'), '11223344aabbccddee');
    assert.deepEqual(encodeCardCf(decoded), file);
    const bumped = encodeCardCf(bumpCardCf(decoded, FILES));
    assert.equal(bumped.toString('hex'), '010002000400' + '11223344aabbccddee');
  });

  it('bumps only the counters named in the mask', () => {
    const start = decodeCardCf(Buffer.from('010a0b000c00', 'hex'));
    assert.equal(encodeCardCf(bumpCardCf(start, PINS)).toString('hex'), '010b0b000c00');
    assert.equal(encodeCardCf(bumpCardCf(start, CONTAINERS)).toString('hex'), '010a0c000c00');
    assert.equal(encodeCardCf(bumpCardCf(start, FILES)).toString('hex'), '010a0b000d00');
    assert.equal(encodeCardCf(bumpCardCf(start, PINS | CONTAINERS | FILES)).toString('hex'), '010b0c000d00');
  });

  it('wraps the byte at 256 and the words at 65536', () => {
    const full = decodeCardCf(Buffer.from('01ffffffffff', 'hex'));
    assert.equal(encodeCardCf(bumpCardCf(full, PINS | CONTAINERS | FILES)).toString('hex'), '010000000000');
    const carry = decodeCardCf(Buffer.from('0100ff00ff00', 'hex'));
    assert.equal(encodeCardCf(bumpCardCf(carry, CONTAINERS | FILES)).toString('hex'), '010000010001');
  });

  it('does not modify the value it bumps', () => {
    const start = decodeCardCf(Buffer.from('010203000400', 'hex'));
    bumpCardCf(start, PINS | CONTAINERS | FILES);
    assert.equal(encodeCardCf(start).toString('hex'), '010203000400');
  });

  it('rejects malformed input with SCARD_E_INVALID_PARAMETER', () => {
    expectCryptError(() => decodeCardCf(Buffer.alloc(0)), 'SCARD_E_INVALID_PARAMETER');
    expectCryptError(() => decodeCardCf(Buffer.alloc(5)), 'SCARD_E_INVALID_PARAMETER');
    expectCryptError(() => decodeCardCf('010203040506' as unknown as Buffer), 'SCARD_E_INVALID_PARAMETER');
    expectCryptError(() => bumpCardCf(newCardCf(), 8), 'SCARD_E_INVALID_PARAMETER');
    expectCryptError(() => bumpCardCf(newCardCf(), -1), 'SCARD_E_INVALID_PARAMETER');
    const base = newCardCf();
    expectCryptError(() => encodeCardCf({ ...base, bPinsFreshness: 256 }), 'SCARD_E_INVALID_PARAMETER');
    expectCryptError(() => encodeCardCf({ ...base, wContainersFreshness: 65536 }), 'SCARD_E_INVALID_PARAMETER');
    expectCryptError(() => encodeCardCf({ ...base, wFilesFreshness: -1 }), 'SCARD_E_INVALID_PARAMETER');
    expectCryptError(() => encodeCardCf({ ...base, bVersion: 1.5 }), 'SCARD_E_INVALID_PARAMETER');
    expectCryptError(() => bumpCardCf({ ...base, bPinsFreshness: 300 }, PINS), 'SCARD_E_INVALID_PARAMETER');
  });
});
