/**
 * The ATR of a removable slot from pcscd's reader table (pkcs11-bridge/pcsc-status.ts): the message
 * layouts of pcsc-lite's client protocol, written here from pcsc-lite's headers (winscard_msg.h,
 * eventhandler.h) and checked against the real pcscd by ../real-card/cng.test.ts; the slot-to-reader
 * rule; and that a module whose slots are not card readers (SoftHSM2: no CKF_REMOVABLE_DEVICE) never
 * makes the bridge ask pcscd.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  decodeReaderStateReply, encodeReaderStateRequest, pcscdSocketPath, readerForSlot, readPcscReaderStates,
} from '../../pkcs11-bridge/pcsc-status.js';
import { makeToken, newDriver } from './helpers.js';

makeToken('br-pcsc');

const ENTRY = 184;
const ATR = Buffer.from('3b7a18000073667465206364313434', 'hex');

/** One READER_STATE: name[128], eventCounter, readerState, readerSharing, cardAtr[33] (+3), cardAtrLength, cardProtocol. */
function readerState(name: string, state: number, atr: Buffer, events: number): Buffer {
  const b = Buffer.alloc(ENTRY);
  b.write(name, 0, 'utf8');
  b.writeUInt32LE(events, 128);
  b.writeUInt32LE(state, 132);
  b.writeInt32LE(0, 136);
  atr.copy(b, 140);
  b.writeUInt32LE(atr.length, 176);
  b.writeUInt32LE(atr.length ? 1 : 0, 180);
  return b;
}

function versionReply(major: number, minor: number, rv: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeInt32LE(major, 0);
  b.writeInt32LE(minor, 4);
  b.writeUInt32LE(rv, 8);
  return b;
}

function table(entries: Buffer[]): Buffer {
  return Buffer.concat([...entries, ...Array.from({ length: 16 - entries.length }, () => Buffer.alloc(ENTRY))]);
}

describe('pkcs11-bridge: the card ATR from pcscd\'s reader table', () => {
  it('asks with CMD_VERSION 4.4 then CMD_GET_READERS_STATE, in native byte order', () => {
    const request = encodeReaderStateRequest();
    assert.equal(request.length, 8 + 12 + 8);
    assert.deepEqual([request.readUInt32LE(0), request.readUInt32LE(4)], [12, 0x11]);
    assert.deepEqual([request.readInt32LE(8), request.readInt32LE(12), request.readUInt32LE(16)], [4, 4, 0]);
    assert.deepEqual([request.readUInt32LE(20), request.readUInt32LE(24)], [0, 0x12]);
    const other = encodeReaderStateRequest(4, 5);
    assert.equal(other.readInt32LE(12), 5);
  });

  it('decodes the table: names, presence, the ATR of a present card; empty table slots left out', () => {
    const reply = Buffer.concat([versionReply(4, 4, 0), table([
      readerState('p11ksp vpcd 00 00', 0x34, ATR, 1),
      readerState('p11ksp vpcd 00 01', 0x02, Buffer.alloc(0), 0),
    ])]);
    const decoded = decodeReaderStateReply(reply);
    assert.ok(decoded.ok);
    assert.deepEqual(decoded.readers, [
      { name: 'p11ksp vpcd 00 00', eventCounter: 1, cardPresent: true, atr: ATR },
      { name: 'p11ksp vpcd 00 01', eventCounter: 0, cardPresent: false },
    ]);
  });

  it('refuses what it does not know: another protocol version (reported for a second try), a table of another size, an ATR over 33 bytes', () => {
    assert.deepEqual(decodeReaderStateReply(Buffer.concat([versionReply(4, 5, 0x8010001e), table([])])), { ok: false, serverVersion: { major: 4, minor: 5 } });
    assert.deepEqual(decodeReaderStateReply(Buffer.concat([versionReply(4, 4, 0), Buffer.alloc(ENTRY * 16 + 4)])), { ok: false });
    const long = readerState('r', 0x34, ATR, 1);
    long.writeUInt32LE(40, 176);
    assert.deepEqual(decodeReaderStateReply(Buffer.concat([versionReply(4, 4, 0), table([long])])), { ok: false });
    assert.deepEqual(decodeReaderStateReply(Buffer.alloc(3)), { ok: false });
  });

  it('a slot is the reader its description names: padded to 64 characters, cut there for a longer name', () => {
    const readers = [
      { name: 'p11ksp vpcd 00 00', eventCounter: 1, cardPresent: true, atr: ATR },
      { name: `${'A very long reader name '.repeat(3)}00 00`, eventCounter: 0, cardPresent: false },
    ];
    assert.equal(readerForSlot('p11ksp vpcd 00 00'.padEnd(64), readers), readers[0]);
    assert.equal(readerForSlot(readers[1]!.name.slice(0, 64), readers), readers[1]);
    assert.equal(readerForSlot('p11ksp vpcd 00 0'.padEnd(64), readers), undefined, 'no prefix match for a name that fits');
    assert.equal(readerForSlot(' '.repeat(64), readers), undefined);
  });

  it('no pcscd: no table and no error', async () => {
    assert.equal(await readPcscReaderStates('/nonexistent/p11ksp/pcscd.comm', 500), undefined);
    assert.equal(pcscdSocketPath({}), '/run/pcscd/pcscd.comm');
    assert.equal(pcscdSocketPath({ PCSCLITE_CSOCK_NAME: '/tmp/x.comm' }), '/tmp/x.comm');
  });

  it('SoftHSM2\'s slots are not card readers: listing them never connects to pcscd and gives no ATR', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'p11ksp-pcsc-probe-'));
    const socketPath = join(dir, 'pcscd.comm');
    let connections = 0;
    const server = createServer((socket) => { connections++; socket.destroy(); });
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    const driver = newDriver(undefined, { pcscSocket: socketPath });
    try {
      const readers = await driver.listReaders();
      assert.ok(readers.some((r) => r.card?.label === 'br-pcsc'), 'the suite\'s token is listed');
      assert.ok(readers.every((r) => r.atr === undefined && !r.removable));
      assert.equal(connections, 0);
    } finally {
      await driver.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
