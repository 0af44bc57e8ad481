import { strict as assert } from 'node:assert';
import {
  type ContainerMapRecord, decodeCmapFile, defaultContainerIndex, encodeCmapFile, findContainer, firstFreeIndex,
} from '../../minidriver/codecs/index.js';
import { expectCryptError } from './expect-crypt-error.js';

const VALID = 1;
const DEFAULT = 2;

function record(wszGuid: string, bFlags: number, wSigKeySizeBits = 0, wKeyExchangeKeySizeBits = 0): ContainerMapRecord {
  return { wszGuid, bFlags, wSigKeySizeBits, wKeyExchangeKeySizeBits };
}

/** Record 0: "ab", default+valid, signature 2048 bits, key exchange 1024 bits; record 1: deleted. */
const TWO_RECORDS_HEX =
  '61006200' + '00'.repeat(76) + // wszGuid[40]
  '03' + '00' + '0008' + '0004' + // bFlags, bReserved, wSigKeySizeBits, wKeyExchangeKeySizeBits
  '00'.repeat(86);

describe('minidriver codecs: cmapfile (CONTAINER_MAP_RECORD[])', () => {
  it('encodes records at an 86-byte stride with flags at 80 and key sizes at 82/84', () => {
    const bytes = encodeCmapFile([record('ab', VALID | DEFAULT, 2048, 1024), null]);
    assert.equal(bytes.length, 172);
    assert.equal(bytes.toString('hex'), TWO_RECORDS_HEX);
    assert.equal(bytes[80], 0x03);
    assert.equal(bytes.readUInt16LE(82), 2048);
    assert.equal(bytes.readUInt16LE(84), 1024);
    assert.ok(bytes.subarray(86).every((b) => b === 0), 'deleted record is 86 zero bytes');
  });

  it('decodes the fixed layout, the deleted record as null', () => {
    const records = decodeCmapFile(Buffer.from(TWO_RECORDS_HEX, 'hex'));
    assert.deepEqual(records, [record('ab', 3, 2048, 1024), null]);
  });

  it('places the second record at offset 86', () => {
    const bytes = encodeCmapFile([null, record('x', VALID, 0, 256)]);
    assert.ok(bytes.subarray(0, 86).every((b) => b === 0));
    assert.equal(bytes.readUInt16LE(86), 'x'.charCodeAt(0));
    assert.equal(bytes[86 + 80], VALID);
    assert.equal(bytes.readUInt16LE(86 + 84), 256);
  });

  it('round-trips GUID names, a 39-character name and non-ASCII UTF-16', () => {
    const records = [
      record('{2d0e1c2a-9f3e-4b4e-8f0e-1a2b3c4d5e6f}', VALID | DEFAULT, 2048, 0),
      null,
      record('9'.repeat(39), VALID, 0, 3072),
      record('clé-ü', VALID, 256, 0),
    ];
    const bytes = encodeCmapFile(records);
    assert.deepEqual(decodeCmapFile(bytes), records);
    assert.equal(bytes.readUInt16LE(3 * 86 + 4), 'é'.charCodeAt(0));
    assert.equal(bytes.readUInt16LE(2 * 86 + 78), 0, 'a 39-character name still ends in a NUL');
  });

  it('decodes an empty file as no records', () => {
    assert.deepEqual(decodeCmapFile(Buffer.alloc(0)), []);
    assert.equal(encodeCmapFile([]).length, 0);
  });

  it('keeps a non-zero record without the VALID flag as a record, not as deleted', () => {
    const bytes = encodeCmapFile([record('old', 0, 1024, 0)]);
    assert.deepEqual(decodeCmapFile(bytes), [record('old', 0, 1024, 0)]);
  });

  it('finds containers by exact name among valid records only', () => {
    const records = [record('Alpha', VALID), null, record('beta', 0), record('Gamma', VALID | DEFAULT)];
    assert.equal(findContainer(records, 'Alpha'), 0);
    assert.equal(findContainer(records, 'alpha'), -1);
    assert.equal(findContainer(records, 'beta'), -1);
    assert.equal(findContainer(records, 'Gamma'), 3);
    assert.equal(defaultContainerIndex(records), 3);
    assert.equal(defaultContainerIndex([record('a', VALID), null]), -1);
  });

  it('reports the first free slot: a deleted or invalid record, else the end', () => {
    assert.equal(firstFreeIndex([record('a', VALID), null, record('b', VALID)]), 1);
    assert.equal(firstFreeIndex([record('a', VALID), record('b', 0)]), 1);
    assert.equal(firstFreeIndex([record('a', VALID), record('b', VALID)]), 2);
    assert.equal(firstFreeIndex([]), 0);
  });

  it('rejects records that break the spec invariants on encode', () => {
    const code = 'SCARD_E_INVALID_PARAMETER';
    expectCryptError(() => encodeCmapFile([record('9'.repeat(40), VALID)]), code);
    expectCryptError(() => encodeCmapFile([record('a\\b', VALID)]), code);
    expectCryptError(() => encodeCmapFile([record('', VALID)]), code);
    expectCryptError(() => encodeCmapFile([record('a\0b', VALID)]), code);
    expectCryptError(() => encodeCmapFile([record('a', 4 | VALID)]), code);
    expectCryptError(() => encodeCmapFile([record('a', DEFAULT)]), code);
    expectCryptError(() => encodeCmapFile([record('a', VALID | DEFAULT), record('b', VALID | DEFAULT)]), code);
    expectCryptError(() => encodeCmapFile([record('a', VALID, 65536, 0)]), code);
    expectCryptError(() => encodeCmapFile([record('a', VALID, 0, -1)]), code);
    expectCryptError(() => encodeCmapFile([42 as unknown as ContainerMapRecord]), code);
    expectCryptError(() => encodeCmapFile([undefined as unknown as ContainerMapRecord]), code);
    expectCryptError(() => encodeCmapFile('x' as unknown as ContainerMapRecord[]), code);
  });

  it('rejects structurally damaged files on decode', () => {
    const code = 'SCARD_E_INVALID_PARAMETER';
    expectCryptError(() => decodeCmapFile(Buffer.alloc(85)), code);
    expectCryptError(() => decodeCmapFile(Buffer.alloc(87)), code);
    const noNul = Buffer.alloc(86);
    noNul.write('A'.repeat(40), 0, 'utf16le');
    expectCryptError(() => decodeCmapFile(noNul), code);
    expectCryptError(() => decodeCmapFile(null as unknown as Buffer), code);
  });
});
