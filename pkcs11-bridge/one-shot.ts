import { performance } from 'node:perf_hooks';
import { CryptError } from '../minidriver/errors.js';
import { isStaleHandle } from './errors.js';
import type { LatencyEstimate } from './dispatch.js';
import type { Pkcs11Handle } from './pkcs11.js';
import type { Token } from './token.js';

/**
 * A single-part token operation with a private key (sign, decrypt): Init + one call, the two calls
 * PKCS#11 cannot avoid. Placement (inline or pool) comes from the token's dispatcher; a key handle
 * that went stale is looked up again by identity once before the error surfaces.
 */
export interface OneShot<T> {
  operation: string;
  container: string;
  /** Measured latency of this kind of operation on this token (see Dispatcher.estimate). */
  estimate: LatencyEstimate;
  /** The private key handle (cached by the caller; `stale` tells it to look up again). */
  key(session: Pkcs11Handle): Pkcs11Handle;
  stale(): void;
  run(session: Pkcs11Handle, key: Pkcs11Handle): T;
  runAsync(session: Pkcs11Handle, key: Pkcs11Handle): Promise<T>;
}

export function runOneShot<T>(token: Token, op: OneShot<T>): Promise<T> {
  const estimate = op.estimate;
  const inline = (): T => {
    const started = performance.now();
    const result = withFreshKey(op, () => token.sync(op.operation, (s) => op.run(s, op.key(s)), op.container));
    estimate.record(performance.now() - started);
    return result;
  };
  // Timed from the moment a session is in hand, and only when running alone, so that queueing and
  // contention in a burst do not make the operation look slow.
  const pooled = (): Promise<T> => withFreshKeyAsync(op, () => token.pooled(op.operation, async (s) => {
    const started = performance.now();
    const result = await op.runAsync(s, op.key(s));
    // Samples taken while others share the cores measure contention, not the operation.
    if (token.dispatcher.inFlightCount <= 1) estimate.record(performance.now() - started);
    return result;
  }, op.container));
  switch (token.dispatcher.place(estimate)) {
    case 'inline':
      try { return Promise.resolve(inline()); } catch (err) { return Promise.reject(err); }
    case 'batch':
      return token.dispatcher.runBatched(inline, pooled);
    default:
      return token.dispatcher.track(pooled());
  }
}

function staleKeyError(err: unknown): boolean {
  return err instanceof CryptError && isStaleHandle(err.nativeCode);
}

function withFreshKey<T>(op: OneShot<T>, work: () => T): T {
  try {
    return work();
  } catch (err) {
    if (!staleKeyError(err)) throw err;
    op.stale();
    return work();
  }
}

async function withFreshKeyAsync<T>(op: OneShot<T>, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (!staleKeyError(err)) throw err;
    op.stale();
    return work();
  }
}
