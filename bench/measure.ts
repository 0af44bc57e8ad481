// Interleaved A/B(/C) measurement: blocks of N operations per side, the order rotated every round so
// drift (CPU frequency, the other core, disk) hits every side alike; ratios are taken per round and
// summarised by their median.
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
const exposedGc = runInNewContext('gc') as (() => void) | undefined;

/** A full garbage collection, so every block starts from a clean heap. */
export function collect(): void {
  exposedGc?.();
}

export const gcAvailable = typeof exposedGc === 'function';

/** Runs `n` operations and returns operations per second. */
export type Block = (n: number) => Promise<number>;

export function syncBlock(op: () => unknown): Block {
  return async (n) => {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) op();
    return n / ((performance.now() - t0) / 1000);
  };
}

export function sequentialBlock(op: () => Promise<unknown>): Block {
  return async (n) => {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await op();
    return n / ((performance.now() - t0) / 1000);
  };
}

/** Keeps `k` operations in flight until `n` have been issued; `worker` gets its lane index. */
export function inFlightBlock(k: number, op: (lane: number) => Promise<unknown>): Block {
  return async (n) => {
    let issued = 0;
    const lane = async (i: number): Promise<void> => {
      while (issued < n) {
        issued++;
        await op(i);
      }
    };
    const t0 = performance.now();
    await Promise.all(Array.from({ length: k }, (_, i) => lane(i)));
    return n / ((performance.now() - t0) / 1000);
  };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export interface Interleaved {
  /** Per side: ops/s of every round, in round order. */
  opsPerSecond: Record<string, number[]>;
}

/**
 * `rounds` rounds; in each, every side runs one block of `n` operations, the order rotated by one per
 * round (A B, B A, ... for two sides). Each side first runs `warmup` operations.
 */
export async function interleave(sides: Record<string, Block>, n: number, rounds: number, warmup: number): Promise<Interleaved> {
  const names = Object.keys(sides);
  // One full GC per section, none between blocks: a forced GC shrinks the young generation and makes
  // the next block pay for regrowing it, which biases against whichever side allocates more.
  collect();
  for (const name of names) await sides[name](warmup);
  const opsPerSecond: Record<string, number[]> = Object.fromEntries(names.map((name) => [name, [] as number[]]));
  for (let r = 0; r < rounds; r++) {
    const order = names.map((_, i) => names[(i + r) % names.length]);
    for (const name of order) {
      await new Promise((resolve) => setImmediate(resolve));
      opsPerSecond[name].push(await sides[name](n));
    }
  }
  return { opsPerSecond };
}

/** Per-round ratios a/b. */
export function ratios(result: Interleaved, a: string, b: string): number[] {
  return result.opsPerSecond[a].map((x, i) => x / result.opsPerSecond[b][i]);
}

/**
 * Distribution-free ~95% confidence interval of the median (order statistics of the binomial(n, ½)
 * approximation). With fewer than 6 values it is simply [min, max].
 */
export function medianCi(xs: number[]): [number, number] {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  const k = Math.max(0, Math.floor((n - 1.96 * Math.sqrt(n)) / 2));
  return [s[k], s[n - 1 - k]];
}
