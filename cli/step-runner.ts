/**
 * Numbered, timed steps: the demo's shape. Each step is printed as it finishes, with what it did and
 * how long it took, and kept for the --json document; a failed step is recorded with its error before
 * the error goes on, so the output shows how far the run got.
 *
 * Cancellation (Ctrl+C) is honoured between steps, not inside one: a token call cannot be interrupted
 * half-way, and stopping between steps lets the caller's clean-up run on a card in a known state.
 */
import { performance } from 'node:perf_hooks';
import { CryptError } from '../minidriver/errors.js';
import { CancelledError } from './exit-codes.js';
import type { Output, StepRecord } from './output.js';

export interface StepOutcome {
  summary: string;
  details?: Record<string, unknown>;
}

export class StepRunner {
  readonly records: StepRecord[] = [];
  private n = 0;

  constructor(private readonly out: Output, readonly total: number, private readonly isCancelled: () => boolean = () => false) {}

  async run(title: string, work: () => Promise<StepOutcome>): Promise<void> {
    if (this.isCancelled()) throw new CancelledError(`cancelled before step ${this.n + 1} (${title})`);
    const n = ++this.n;
    const start = performance.now();
    try {
      const outcome = await work();
      this.finish({ n, title, ok: true, ms: performance.now() - start, summary: outcome.summary, details: outcome.details ?? {} });
    } catch (err) {
      const summary = err instanceof CryptError ? err.codeName : err instanceof Error ? err.name : 'error';
      this.finish({ n, title, ok: false, ms: performance.now() - start, summary, details: {} });
      throw err;
    }
  }

  private finish(record: StepRecord): void {
    record.ms = Math.round(record.ms * 10) / 10; // sub-0.1 ms digits are noise, not measurement
    this.records.push(record);
    this.out.step(record, this.total);
  }
}
