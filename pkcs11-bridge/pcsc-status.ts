/**
 * The ATR of the card in a PKCS#11 slot that is a PC/SC reader.
 *
 * PKCS#11 has no ATR: CK_SLOT_INFO and CK_TOKEN_INFO carry none, and OpenSC (the module for real
 * cards) exposes none either. But a card module names each slot after its PC/SC reader (OpenSC's
 * slotDescription is the reader name, cut to 64 characters), and pcscd publishes the state of every
 * reader — presence, ATR, protocol — to every client: it is the table libpcsclite's
 * SCardGetStatusChange answers from. Calais matches card registrations by ATR (reference §9), so the
 * bridge reads that table and gives each removable slot its reader's ATR.
 *
 * How: pcsc-lite's client protocol on pcscd's unix socket — CMD_VERSION (the protocol version, 4.4
 * in pcsc-lite 1.8.24–2.x; a server that answers with another version is asked again with its own),
 * then CMD_GET_READERS_STATE (the reader table, 184 bytes per reader). No card is connected, no APDU
 * is sent, no native binding is needed, and OpenSC's own connection to the card is not disturbed. The
 * socket is PCSCLITE_CSOCK_NAME when set (as libpcsclite reads it), else /run/pcscd/pcscd.comm.
 *
 * Anything unexpected (no pcscd, another layout, a timeout) gives no ATR, never an error: a reader
 * without an ATR simply matches no ATR criterion, which is what PKCS#11 alone would give.
 */
import { createConnection } from 'node:net';
import { endianness } from 'node:os';

export const DEFAULT_PCSCD_SOCKET = '/run/pcscd/pcscd.comm';

/** pcsc-lite's message commands (winscard_msg.h). */
const CMD_VERSION = 0x11;
const CMD_GET_READERS_STATE = 0x12;
const PROTOCOL_VERSION_MAJOR = 4;
const PROTOCOL_VERSION_MINOR = 4;

/**
 * READER_STATE (eventhandler.h): readerName[128], eventCounter, readerState, readerSharing (uint32 /
 * int32), cardAtr[MAX_ATR_SIZE = 33] padded to 36, cardAtrLength, cardProtocol.
 */
const MAX_READERNAME = 128;
const MAX_ATR_SIZE = 33;
const OFFSET_EVENT_COUNTER = 128;
const OFFSET_READER_STATE = 132;
const OFFSET_ATR = 140;
const OFFSET_ATR_LENGTH = 176;
const READER_STATE_SIZE = 184;
const VERSION_SIZE = 12;
/** SCARD_PRESENT in readerState. */
const SCARD_PRESENT = 0x0004;

const DEFAULT_TIMEOUT_MS = 2_000;

export interface PcscReaderState {
  /** The PC/SC reader name. */
  name: string;
  /** pcscd's count of card insertions and removals in this reader. */
  eventCounter: number;
  cardPresent: boolean;
  /** The card's ATR (absent when no card is in the reader). */
  atr?: Buffer;
}

/** The socket libpcsclite would use in this environment. */
export function pcscdSocketPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.PCSCLITE_CSOCK_NAME || DEFAULT_PCSCD_SOCKET;
}

const le = endianness() === 'LE';
const u32 = (b: Buffer, offset: number): number => (le ? b.readUInt32LE(offset) : b.readUInt32BE(offset));
const i32 = (b: Buffer, offset: number): number => (le ? b.readInt32LE(offset) : b.readInt32BE(offset));

function header(size: number, command: number): Buffer {
  const b = Buffer.alloc(8);
  if (le) { b.writeUInt32LE(size, 0); b.writeUInt32LE(command, 4); } else { b.writeUInt32BE(size, 0); b.writeUInt32BE(command, 4); }
  return b;
}

/** The two requests, in one write: pcscd answers them in order, then sees our end and closes. */
export function encodeReaderStateRequest(major = PROTOCOL_VERSION_MAJOR, minor = PROTOCOL_VERSION_MINOR): Buffer {
  const version = Buffer.alloc(VERSION_SIZE);
  if (le) { version.writeInt32LE(major, 0); version.writeInt32LE(minor, 4); } else { version.writeInt32BE(major, 0); version.writeInt32BE(minor, 4); }
  return Buffer.concat([header(VERSION_SIZE, CMD_VERSION), version, header(0, CMD_GET_READERS_STATE)]);
}

export type ReaderStateReply =
  | { ok: true; readers: PcscReaderState[] }
  /** The server speaks another protocol version: ask again with it. */
  | { ok: false; serverVersion?: { major: number; minor: number } };

/**
 * Decodes pcscd's answer to encodeReaderStateRequest: the version reply, then the reader table
 * (PCSCLITE_MAX_READERS_CONTEXTS entries, 16 unless pcsc-lite was built otherwise). Empty slots of the
 * table (no name) are left out. A reply of any other shape is refused ({ ok: false }).
 */
export function decodeReaderStateReply(reply: Buffer): ReaderStateReply {
  if (reply.length < VERSION_SIZE) return { ok: false };
  const serverVersion = { major: i32(reply, 0), minor: i32(reply, 4) };
  if (u32(reply, 8) !== 0) return { ok: false, serverVersion };
  const table = reply.subarray(VERSION_SIZE);
  if (table.length === 0 || table.length % READER_STATE_SIZE !== 0) return { ok: false };
  const readers: PcscReaderState[] = [];
  for (let offset = 0; offset < table.length; offset += READER_STATE_SIZE) {
    const entry = table.subarray(offset, offset + READER_STATE_SIZE);
    const end = entry.indexOf(0);
    if (end < 0 || end >= MAX_READERNAME) return { ok: false }; // not a NUL-terminated name: another layout
    if (end === 0) continue;
    const atrLength = u32(entry, OFFSET_ATR_LENGTH);
    if (atrLength > MAX_ATR_SIZE) return { ok: false };
    const cardPresent = (u32(entry, OFFSET_READER_STATE) & SCARD_PRESENT) !== 0;
    const state: PcscReaderState = { name: entry.toString('utf8', 0, end), eventCounter: u32(entry, OFFSET_EVENT_COUNTER), cardPresent };
    if (cardPresent && atrLength > 0) state.atr = Buffer.from(entry.subarray(OFFSET_ATR, OFFSET_ATR + atrLength));
    readers.push(state);
  }
  return { ok: true, readers };
}

function exchange(socketPath: string, request: Buffer, timeoutMs: number): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let settled = false;
    const finish = (value: Buffer | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(value);
    };
    const socket = createConnection(socketPath);
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    timer.unref();
    socket.on('connect', () => socket.end(request));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => finish(Buffer.concat(chunks)));
    socket.on('error', () => finish(undefined)); // no pcscd here (ENOENT, ECONNREFUSED, EACCES)
  });
}

/**
 * pcscd's reader table, or undefined when there is no pcscd to ask or it answers in a way this code
 * does not know.
 */
export async function readPcscReaderStates(socketPath: string = pcscdSocketPath(), timeoutMs = DEFAULT_TIMEOUT_MS): Promise<PcscReaderState[] | undefined> {
  let reply = decodeReaderStateReply(await exchange(socketPath, encodeReaderStateRequest(), timeoutMs) ?? Buffer.alloc(0));
  if (!reply.ok && reply.serverVersion && reply.serverVersion.major === PROTOCOL_VERSION_MAJOR) {
    const { major, minor } = reply.serverVersion;
    reply = decodeReaderStateReply(await exchange(socketPath, encodeReaderStateRequest(major, minor), timeoutMs) ?? Buffer.alloc(0));
  }
  return reply.ok ? reply.readers : undefined;
}

/**
 * The PC/SC reader a slot stands for: the slot description is the reader name, blank-padded to the
 * 64 characters of CK_SLOT_INFO.slotDescription, and cut there when the name is longer.
 */
export function readerForSlot(slotDescription: string, readers: readonly PcscReaderState[]): PcscReaderState | undefined {
  const name = slotDescription.trimEnd();
  if (name.length === 0) return undefined;
  return readers.find((r) => r.name === name) ?? readers.find((r) => r.name.length > 64 && r.name.slice(0, 64).trimEnd() === name);
}
