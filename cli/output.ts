/**
 * How the CLI speaks: results on stdout, diagnostics (progress notes, warnings, errors) on stderr, so
 * `p11-ksp readers --json | jq` and `p11-ksp demo > log` get clean data. With --json, stdout carries
 * exactly one JSON document.
 *
 * Nothing printed here can hold a PIN: PINs never reach this module, and errors print the message the
 * layers below wrote, which by their own rule never contains one.
 */
import { CARD_DATA_VALUE_UNKNOWN } from '../minidriver/constants.js';
import { CryptError } from '../minidriver/errors.js';
import { CancelledError, UsageError } from './exit-codes.js';

/** One finished (or failed) step of a command that walks through steps. */
export interface StepRecord {
  n: number;
  title: string;
  ok: boolean;
  /** Wall-clock time of the step, in milliseconds. */
  ms: number;
  /** What happened, in one line. */
  summary: string;
  /** What happened, as data (the --json form). */
  details: Record<string, unknown>;
}

/** Milliseconds, readable: 0.4 ms, 12 ms, 1.3 s. */
export function formatMs(ms: number): string {
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(1)} s`;
}

export class Output {
  constructor(readonly json: boolean) {}

  /** A line of result, for people (ignored in --json mode, where the document is the result). */
  line(text = ''): void {
    if (!this.json) process.stdout.write(`${text}\n`);
  }

  /** The --json document: one object, one write. */
  document(value: unknown): void {
    process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }

  /** A progress note or warning: stderr, in both modes. */
  note(text: string): void {
    process.stderr.write(`p11-ksp: ${text}\n`);
  }

  /** A step, as it finishes: "[3/8] title: summary (12 ms)". */
  step(record: StepRecord, total: number): void {
    if (this.json) return;
    const mark = record.ok ? '' : 'FAILED ';
    this.line(`[${record.n}/${total}] ${mark}${record.title}: ${record.summary} (${formatMs(record.ms)})`);
  }

  /** The failure, on stderr: the Windows code's name first, as the layers below raise it. */
  error(err: unknown): void {
    process.stderr.write(`${describeError(err)}\n`);
    if (process.env.P11KSP_DEBUG && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  }
}

/** The error line: "p11-ksp: SCARD_W_WRONG_CHV: CardAuthenticatePin, card "x": wrong PIN". */
export function describeError(err: unknown): string {
  if (err instanceof UsageError) return `p11-ksp: usage: ${err.message}`;
  if (err instanceof CancelledError) return `p11-ksp: ${err.message}`;
  if (err instanceof CryptError) return `p11-ksp: ${err.message}`; // the message starts with codeName
  if (err instanceof Error) return `p11-ksp: error: ${err.message}`;
  return `p11-ksp: error: ${String(err)}`;
}

/** The error as data, for the --json document of a failed command. */
export function errorJson(err: unknown): Record<string, unknown> {
  if (err instanceof CryptError) {
    return {
      code: `0x${err.code.toString(16).padStart(8, '0')}`, codeName: err.codeName, message: err.message,
      // CARD_DATA_VALUE_UNKNOWN (0xffffffff) is "the card cannot tell": no number is better than a huge one.
      ...(err.attemptsRemaining !== undefined && err.attemptsRemaining !== CARD_DATA_VALUE_UNKNOWN ? { attemptsRemaining: err.attemptsRemaining } : {}),
    };
  }
  return { codeName: err instanceof Error ? err.name : 'Error', message: err instanceof Error ? err.message : String(err) };
}
