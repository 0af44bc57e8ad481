/**
 * Chooses, per token and kind of operation, whether a token call runs inline (synchronously on the
 * JavaScript thread) or on libuv's pool, from measured latency rather than guesses (design decision 3).
 *
 * Measured here: an asynchronous pkcs11js call costs 30–110 µs of thread hand-off, more than a whole
 * ECDSA P-256 signature on SoftHSM2, while RSA-2048 (~0.8 ms) gains from several sessions in flight.
 * So:
 *  - operations faster than the hand-off always run inline (async would only slow them down);
 *  - operations slower than `maxInlineMs` always go to the pool (the event loop is never blocked long);
 *  - in between, a lone request runs inline, but requests that arrive together in one turn of the
 *    event loop, or while others are in flight on the pool, go to the pool and run in parallel.
 */
export interface DispatchPolicy {
  /** Below this latency (ms) a call always runs inline. */
  handoffMs: number;
  /** Above this latency (ms) a call never runs inline. */
  maxInlineMs: number;
}

export const DEFAULT_DISPATCH_POLICY: DispatchPolicy = { handoffMs: 0.15, maxInlineMs: 2.5 };

/** Exponentially weighted latency of one kind of operation on one token. */
export class LatencyEstimate {
  /** Undefined until measured: unknown operations start on the pool, where they cannot block. */
  ms: number | undefined;
  record(ms: number): void {
    // One stall (a GC pause, a busy core) must not push an operation out of its band: cap each sample.
    this.ms = this.ms === undefined ? ms : this.ms * 0.8 + Math.min(ms, this.ms * 4) * 0.2;
  }
}

export type Placement = 'inline' | 'pool' | 'batch';

export class Dispatcher {
  private readonly estimates = new Map<string, LatencyEstimate>();
  private inFlight = 0;
  private batch: (() => void)[] = [];
  private batchScheduled = false;

  constructor(private readonly policy: DispatchPolicy = DEFAULT_DISPATCH_POLICY) {}

  estimate(kind: string): LatencyEstimate {
    let e = this.estimates.get(kind);
    if (!e) {
      e = new LatencyEstimate();
      this.estimates.set(kind, e);
    }
    return e;
  }

  /** Where an operation of this estimate should run right now. */
  place(estimate: LatencyEstimate): Placement {
    const ms = estimate.ms;
    if (ms === undefined || ms > this.policy.maxInlineMs) return 'pool';
    if (ms < this.policy.handoffMs) return 'inline';
    return this.inFlight > 0 ? 'pool' : 'batch';
  }

  /**
   * Runs `inline` or `pooled` for an operation in the middle band: deferred by one microtask so that
   * requests issued together can be seen together. One alone runs inline; several go to the pool.
   */
  runBatched<T>(inline: () => T, pooled: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.batch.push(() => {
        // Decided when the batch is flushed: `alone` is read from the flush below.
        if (this.flushingAlone) {
          try { resolve(inline()); } catch (err) { reject(err); }
        } else {
          this.track(pooled()).then(resolve, reject);
        }
      });
      if (!this.batchScheduled) {
        this.batchScheduled = true;
        queueMicrotask(() => this.flush());
      }
    });
  }

  private flushingAlone = false;

  private flush(): void {
    const jobs = this.batch;
    this.batch = [];
    this.batchScheduled = false;
    this.flushingAlone = jobs.length === 1 && this.inFlight === 0;
    for (const job of jobs) job();
    this.flushingAlone = false;
  }

  /** Pooled operations in flight now. */
  get inFlightCount(): number {
    return this.inFlight;
  }

  /** Counts a pooled operation in flight until it settles. */
  track<T>(work: Promise<T>): Promise<T> {
    this.inFlight++;
    return work.finally(() => { this.inFlight--; });
  }
}
