// The rows of the bench report: a throughput row (p11-ksp against raw pkcs11js, per-round ratios and
// their median) and a token-call row (pkcs11-spy counts against the goal).
import { median, medianCi } from './measure.js';
import type { CallCount } from './spy-child.js';

export interface CaseResult {
  case: string;
  rawLabel: string;
  bridgeLabel: string;
  rawOpsPerSec: number | null;
  bridgeOpsPerSec: number | null;
  ratio: number | null;
  goal: string;
  met: boolean | null;
  /** Per-round figures, for the spread. */
  rounds?: { raw: number[]; bridge: number[]; ratio: number[] };
  /** ~95% confidence interval of the median ratio. */
  ratioCi?: [number, number];
  /** Whether the interval lies wholly on one side of the goal. */
  conclusive?: boolean;
  note?: string;
  /** Token-call rows (pkcs11-spy): calls per operation, which ones, and the raw floor when there is one. */
  calls?: { perOp: number; functions: string; floor?: number };
}

export const round = (x: number, digits = 0): number => Number(x.toFixed(digits));

/** Per-round median of a/b over two sides of one interleaved section. */
export function roundRatio(a: number[], b: number[]): number {
  return median(a.map((x, i) => x / b[i]));
}

/** A throughput row from per-round ops/s of both sides; `goal` null makes it a context row. */
export function caseFrom(name: string, rawLabel: string, bridgeLabel: string, raw: number[], bridge: number[], goal: number | null, note?: string): CaseResult {
  const ratio = bridge.map((b, i) => b / raw[i]);
  const r = median(ratio);
  const ci = medianCi(ratio);
  return {
    case: name, rawLabel, bridgeLabel,
    rawOpsPerSec: round(median(raw)), bridgeOpsPerSec: round(median(bridge)), ratio: round(r, 3),
    goal: goal === null ? 'context' : `≥ ${goal.toFixed(2)}`, met: goal === null ? null : r >= goal,
    rounds: { raw: raw.map((x) => round(x)), bridge: bridge.map((x) => round(x)), ratio: ratio.map((x) => round(x, 3)) },
    ratioCi: [round(ci[0], 3), round(ci[1], 3)],
    ...(goal === null ? {} : { conclusive: ci[0] >= goal || ci[1] < goal }),
    ...(note ? { note } : {}),
  };
}

/**
 * A token-call row. `exactly`: the calls must be exactly these functions, `goal` of them per
 * operation; otherwise at most `goal` calls per operation, whichever they are.
 */
export function callCase(name: string, c: CallCount, goal: number, exactly: string[] | null, floor?: number): CaseResult {
  const per = (n: number): string => String(Number((n / c.ops).toFixed(2)));
  const functions = Object.entries(c.functions).map(([f, n]) => `${f}×${per(n)}`).join(', ') || 'none';
  const met = exactly ? c.perOp === goal && Object.keys(c.functions).sort().join(',') === [...exactly].sort().join(',') : c.perOp <= goal;
  return {
    case: name, rawLabel: 'raw floor', bridgeLabel: 'p11-ksp',
    rawOpsPerSec: null, bridgeOpsPerSec: null, ratio: null,
    goal: exactly ? `= ${goal} calls/op` : `≤ ${goal} call${goal === 1 ? '' : 's'}/op`, met,
    calls: { perOp: c.perOp, functions, ...(floor !== undefined ? { floor } : {}) },
  };
}
