/**
 * Where PINs come from: a hidden prompt on the terminal, or the first line of a file the user names.
 *
 * Never from argv or the environment: both are readable by other processes (/proc/PID/cmdline,
 * /proc/PID/environ) and end up in shell history and CI logs. A PIN is handed on as a Buffer so the
 * caller can wipe it when done; the bytes read here are wiped as soon as the PIN is copied out. What
 * cannot be wiped is said where it happens (JavaScript strings are immutable).
 */
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { timingSafeEqual } from 'node:crypto';
import { hiddenPrompt } from '../smartcard/hidden-prompt.js';
import { CancelledError, UsageError } from './exit-codes.js';

/** The shortest PIN accepted (SoftHSM2's own minimum, and the smart-card norm). */
export const MIN_PIN_LENGTH = 4;
/** How often a mistyped confirmation may be retried before giving up. */
const CONFIRM_ATTEMPTS = 3;

export interface PinSource {
  /** The file to read the PIN from (its first line), if the user gave one. */
  file?: string;
  /** What the PIN is, for prompts and messages: 'user PIN', 'SO PIN'. */
  what: string;
  /** The option that names such a file, for the message when there is no terminal: '--pin-file'. */
  option: string;
}

/** True when a person can be asked: standard input is a terminal. Never prompt otherwise. */
export function isInteractive(): boolean {
  return process.stdin.isTTY === true;
}

/** Overwrites secrets in place. */
export function wipe(...buffers: (Uint8Array | undefined | null)[]): void {
  for (const b of buffers) b?.fill(0);
}

/** Characters in UTF-8 bytes (lead bytes), counted without turning the PIN into a string. */
function utf8Length(bytes: Uint8Array): number {
  let n = 0;
  for (const b of bytes) if ((b & 0xc0) !== 0x80) n++;
  return n;
}

/**
 * The PIN in a file: its first line, without the line end (\n or \r\n). Says when the file can be read
 * by other users, as ssh does for keys, but still uses it: refusing would only push people to argv.
 */
export function readPinFile(source: PinSource & { file: string }, warn: (message: string) => void = () => {}): Buffer {
  let content: Buffer;
  try {
    const fd = openSync(source.file, 'r');
    try {
      const stat = fstatSync(fd);
      if (stat.isFile() && stat.mode & 0o077) warn(`${source.option} ${source.file} can be read by other users; chmod 600 it`);
      content = readFileSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new UsageError(`cannot read the ${source.what} from ${source.option} ${source.file}: ${code}`);
  }
  let end = content.indexOf(0x0a);
  if (end < 0) end = content.length;
  if (end > 0 && content[end - 1] === 0x0d) end--;
  const pin = Buffer.from(content.subarray(0, end));
  wipe(content);
  checkLength(pin, source);
  return pin;
}

function checkLength(pin: Buffer, source: PinSource): void {
  if (utf8Length(pin) >= MIN_PIN_LENGTH) return;
  wipe(pin);
  throw new UsageError(`the ${source.what}${source.file ? ` in ${source.file}` : ''} must have at least ${MIN_PIN_LENGTH} characters`);
}

/**
 * One hidden prompt (smartcard/hidden-prompt.ts, shared with the smart-card terminal UI): nothing is
 * echoed, not even a mask, and there is no Ctrl+T "show" toggle. The prompt library's string answer
 * cannot be wiped; it is copied into a Buffer at once and dropped. Ctrl+C or Escape cancels.
 */
async function ask(message: string, validate?: (value: string) => true | string): Promise<Buffer> {
  const answer = await hiddenPrompt(message, validate);
  if (answer === null) throw new CancelledError('cancelled at the PIN prompt');
  return answer;
}

function noTerminal(source: PinSource): UsageError {
  return new UsageError(`no terminal to ask for the ${source.what}: write it on the first line of a file (chmod 600) and pass ${source.option} FILE`);
}

/** An existing PIN: from the file if one is named, else asked once on the terminal. */
export async function readPin(source: PinSource, warn?: (message: string) => void): Promise<Buffer> {
  if (source.file) return readPinFile({ ...source, file: source.file }, warn);
  if (!isInteractive()) throw noTerminal(source);
  return ask(`Enter the ${source.what}:`);
}

/**
 * A PIN being chosen: from the file if one is named, else typed twice on the terminal (the two must
 * match, at least MIN_PIN_LENGTH characters). Without a terminal or a file it is a usage error.
 */
export async function readNewPin(source: PinSource, warn: (message: string) => void = () => {}): Promise<Buffer> {
  if (source.file) return readPinFile({ ...source, file: source.file }, warn);
  if (!isInteractive()) throw noTerminal(source);
  const atLeast = (value: string): true | string => [...value].length >= MIN_PIN_LENGTH || `too short: at least ${MIN_PIN_LENGTH} characters`;
  for (let attempt = 1; attempt <= CONFIRM_ATTEMPTS; attempt++) {
    const first = await ask(`Choose the ${source.what} (at least ${MIN_PIN_LENGTH} characters):`, atLeast);
    const second = await ask(`Repeat the ${source.what}:`);
    const same = first.length === second.length && timingSafeEqual(first, second);
    wipe(second);
    if (same) return first;
    wipe(first);
    warn(`the two ${source.what} entries differ${attempt < CONFIRM_ATTEMPTS ? '; try again' : ''}`);
  }
  throw new UsageError(`the ${source.what} was not confirmed after ${CONFIRM_ATTEMPTS} tries`);
}
