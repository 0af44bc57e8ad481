/**
 * runConformance: opens the target, probes it, and runs the selected areas' cases as a mocha suite
 * (one Suite per area, one Test per case), then reports every case of the matrix with its outcome.
 *
 * Why mocha and not a loop: per-test timeouts (a key generation that hangs on a card must not hang
 * the run), after-each hooks that run even when a case times out, and the familiar pass/fail/pending
 * model — the same tool the project's own tests use. Cases that do not run are pending tests, so the
 * mocha tree is the whole matrix.
 *
 * Safety: after every case the runner deletes the containers that case named through ctx.ownContainer
 * (and that exist), and nothing else; every card context the case acquired is deleted. At the end the
 * run's PIN is wiped, the UI restored, the target's service closed and the default service forgotten.
 */
import { readFileSync } from 'node:fs';
import Mocha from 'mocha';
import { CryptError } from '../minidriver/errors.js';
import { getUserInterface, setUserInterface } from '../smartcard/ui.js';
import { ALL_AREAS } from './areas/index.js';
import { probeCapabilities } from './capabilities.js';
import type {
  AreaId, CaseOutcome, CaseResult, ConformanceArea, ConformanceCase, ConformanceOptions, RunEvent, RunResult, TargetCapabilities,
} from './case.js';
import { CaseScope, RunPin, runUserInterface, verifyRunPin } from './context.js';
import { decide, selectAreas, validateSkips } from './selection.js';
import { type OpenTarget, openTarget } from './target.js';

/** Long enough for RSA-4096 generation on a slow card. */
export const SLOW_CASE_TIMEOUT_MS = 10 * 60_000;
export const CASE_TIMEOUT_MS = 2 * 60_000;
/** How long cleanup waits for a case that timed out to stop on its own. */
const CLEANUP_GRACE_MS = 30_000;

/** Waits for `promise` to settle, at most `ms` (the timer does not keep the process alive). */
async function settledWithin(promise: Promise<unknown> | undefined, ms: number): Promise<void> {
  if (!promise) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    promise.then(() => undefined, () => undefined),
    new Promise<void>((resolve) => { timer = setTimeout(resolve, ms); timer.unref(); }),
  ]);
  clearTimeout(timer);
}

function toolVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** One row of the matrix while the run goes. */
interface Planned {
  area: ConformanceArea;
  case: ConformanceCase;
  index: number;
  /** Decided before the run (skipped / not applicable), or set when the case ends. */
  outcome?: CaseOutcome;
  scope?: CaseScope;
  started?: number;
  error?: unknown;
  /** Position in execution order, for RunEvents. */
  eventIndex?: number;
  /** The case's own promise: still running after a timeout, and awaited (briefly) before cleanup. */
  running?: Promise<void>;
}

/** Mocha needs a reporter; the run reports through RunEvents and RunResult instead. */
class SilentReporter {
  constructor(_runner: Mocha.Runner) {}
}

function failureOf(err: unknown): { code?: string; message: string; stack?: string } {
  if (err instanceof CryptError) return { code: err.codeName, message: err.message, ...(err.stack ? { stack: err.stack } : {}) };
  // Plain errors are the cases' own checks (and mocha's timeouts): no Windows code to report.
  if (err instanceof Error) return { message: err.message, ...(err.stack ? { stack: err.stack } : {}) };
  return { message: String(err) };
}

/** The totals line of a run from its cases' outcomes. */
export function totalsOf(results: readonly CaseResult[]): RunResult['totals'] {
  const totals = { passed: 0, failed: 0, notApplicable: 0, skipped: 0 };
  for (const r of results) {
    if (r.outcome.status === 'passed') totals.passed++;
    else if (r.outcome.status === 'failed') totals.failed++;
    else if (r.outcome.status === 'not-applicable') totals.notApplicable++;
    else totals.skipped++;
  }
  return totals;
}

function plainCapabilities(c: TargetCapabilities): RunResult['capabilities'] {
  return { ...c, mechanisms: [...c.mechanisms].sort() };
}

/** Runs the planned cases as mocha tests; resolves when every case has an outcome. */
/** Why a case the run never started is skipped after a stop. */
const STOPPED = 'the run was stopped before this case (Ctrl+C, or the caller\'s AbortSignal)';

async function runWithMocha(plan: Planned[], open: OpenTarget, capabilities: TargetCapabilities, pin: RunPin, emit: (e: RunEvent) => void, signal: AbortSignal | undefined): Promise<void> {
  const total = plan.length;
  const mocha = new Mocha({ reporter: SilentReporter as unknown as Mocha.ReporterConstructor, timeout: CASE_TIMEOUT_MS, color: false });
  const byTest = new Map<Mocha.Runnable, Planned>();
  // Events count in execution order (the lockout cases run last), starting at 0.
  let executed = 0;
  const start = (p: Planned): void => {
    p.eventIndex = executed++;
    emit({ type: 'case-start', area: p.area.id, id: p.case.id, title: p.case.title, index: p.eventIndex, total });
  };
  const end = (p: Planned): void => emit({ type: 'case-end', area: p.area.id, id: p.case.id, outcome: p.outcome!, index: p.eventIndex ?? p.index, total });

  /** Adds the planned cases to a suite; `area` is where progress events say they belong. */
  const fill = (suite: Mocha.Suite, rows: Planned[]): void => {
    suite.timeout(CASE_TIMEOUT_MS);
    for (const p of rows) {
      const title = `${p.area.id}/${p.case.id}: ${p.case.title}`;
      if (p.outcome) {
        const pending = new Mocha.Test(title); // no function: mocha reports it as pending
        suite.addTest(pending);
        byTest.set(pending, p);
        continue;
      }
      const test = new Mocha.Test(title, async () => {
        if (signal?.aborted) {
          // Not started: nothing of its own on the card, nothing for cleanUpCase (no scope).
          p.outcome = { status: 'skipped', reason: STOPPED };
          start(p);
          end(p);
          return;
        }
        const scope = new CaseScope(open, capabilities, pin, {
          progress: (text) => emit({ type: 'case-progress', area: p.area.id, id: p.case.id, text }),
        });
        p.scope = scope;
        p.started = Date.now();
        start(p);
        p.running = p.case.run(scope);
        await p.running;
      });
      test.timeout(p.case.requires?.slow ? SLOW_CASE_TIMEOUT_MS : CASE_TIMEOUT_MS);
      suite.addTest(test);
      byTest.set(test, p);
    }
    // Runs after every case that ran, whatever its outcome (a timeout included). Never throws: a
    // failing hook would make mocha abandon the rest of the suite.
    suite.afterEach(async function cleanUpCase(this: Mocha.Context) {
      const p = this.currentTest && byTest.get(this.currentTest);
      if (!p || !p.scope) return;
      const duration = Date.now() - (p.started ?? Date.now());
      // After a timeout the case may still be working on the card: give it a moment to finish, so that
      // a container it creates late is still deleted below (a card that hangs for good is left to fail).
      this.timeout(CLEANUP_GRACE_MS + CASE_TIMEOUT_MS);
      await settledWithin(p.running, CLEANUP_GRACE_MS);
      const problems = await p.scope.cleanUp().catch((err: unknown) => [`cleanup failed: ${(err as Error).message}`]);
      const notes = [...p.scope.notes, ...problems.map((text) => `cleanup: ${text}`)];
      if (p.error !== undefined) {
        p.outcome = { status: 'failed', durationMs: duration, notes, error: failureOf(p.error) };
      } else if (problems.length) {
        p.outcome = { status: 'failed', durationMs: duration, notes, error: { code: 'SCARD_E_UNEXPECTED', message: `the case passed but its cleanup failed: ${problems.join('; ')}` } };
      } else {
        p.outcome = { status: 'passed', durationMs: duration, notes };
      }
      end(p);
    });
  };

  // A PIN lockout leaves the PIN blocked, and every later case that needs the PIN would fail: those
  // cases run last, in a suite of their own, whatever area they belong to (results keep declaration order).
  const blocksPin = (p: Planned): boolean => !p.outcome && p.case.requires?.pinLockout === true;
  for (const area of new Set(plan.map((p) => p.area))) {
    fill(Mocha.Suite.create(mocha.suite, area.title), plan.filter((p) => p.area === area && !blocksPin(p)));
  }
  const lockouts = plan.filter(blocksPin);
  if (lockouts.length) fill(Mocha.Suite.create(mocha.suite, 'PIN lockout (runs last: it leaves the user PIN blocked)'), lockouts);

  await new Promise<void>((resolve, reject) => {
    let runner: Mocha.Runner;
    try {
      runner = mocha.run(() => resolve());
    } catch (err) {
      reject(err);
      return;
    }
    runner.on('pending', (test: Mocha.Test) => {
      const p = byTest.get(test);
      if (!p) return;
      start(p);
      end(p);
    });
    runner.on('fail', (runnable: Mocha.Runnable, err: unknown) => {
      const p = byTest.get(runnable);
      if (p) p.error = err ?? new Error('the case failed without an error');
    });
  });
  mocha.dispose();

  // A case mocha never got to (an area abandoned after a hook failure) is reported, not lost.
  for (const p of plan) {
    if (!p.outcome) {
      p.outcome = { status: 'failed', durationMs: 0, notes: p.scope?.notes ?? [], error: { message: p.error !== undefined ? failureOf(p.error).message : 'the case did not run to its end (the runner stopped the area)' } };
    }
  }
}

/** The card's refusal of the run's PIN: wrong, blocked, or not a PIN it can take. */
function isCardRefusal(err: unknown): boolean {
  return err instanceof CryptError && (err.codeName === 'SCARD_W_WRONG_CHV' || err.codeName === 'SCARD_W_CHV_BLOCKED' || err.codeName === 'SCARD_E_INVALID_CHV');
}

/**
 * Runs the conformance suite against one target. Resolves with the whole matrix whatever the cases'
 * outcomes; rejects (CryptError) only when the options are wrong, the target cannot be opened/probed,
 * or the card refuses the run's PIN (checked once, before any case uses it).
 */
export async function runConformance(options: ConformanceOptions): Promise<RunResult> {
  const operation = 'conformance';
  if (!options || typeof options !== 'object' || !options.target) {
    throw new CryptError('NTE_INVALID_PARAMETER', 'give the target to test (a module with a token label or serial, or a registered provider)', { operation });
  }
  if (typeof options.pin !== 'function') {
    throw new CryptError('NTE_INVALID_PARAMETER', 'give a pin() callback (a prompt or a PIN file reader); the PIN is never passed as a value', { operation });
  }
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
    throw new CryptError('NTE_INVALID_PARAMETER', 'signal must be an AbortSignal (from an AbortController)', { operation });
  }
  const areas = selectAreas(options.areas, ALL_AREAS);
  const skip = validateSkips(options.skip);
  const allowed = { allowDestructive: options.allowDestructive === true, allowPinLockout: options.allowPinLockout === true };
  const emit = (event: RunEvent): void => {
    try {
      options.onEvent?.(event);
    } catch {
      // A listener's bug must not break the run or leave the card dirty.
    }
  };

  const pin = new RunPin(options.pin);
  const startedAt = new Date().toISOString();
  let open: OpenTarget | undefined;
  const previousUi = getUserInterface();
  try {
    open = await openTarget(options.target);
    const opened = open;
    pin.setVerifier((bytes) => verifyRunPin(opened, bytes));
    setUserInterface(runUserInterface(open.identity, pin));
    const capabilities = await probeCapabilities(open, pin);

    const plan: Planned[] = [];
    for (const area of areas) {
      for (const c of area.cases) {
        plan.push({ area, case: c, index: plan.length, outcome: decide(area.id, c, capabilities, skip, allowed) });
      }
    }
    emit({ type: 'probed', target: open.identity, cases: plan.length });
    await runWithMocha(plan, open, capabilities, pin, emit, options.signal);
    // A PIN the card refused ends the run with the card's answer (the CLI's exit code says "PIN
    // incorrect" or "PIN blocked"); no case presented it a second time. A PIN that could not be had
    // (cancelled at the prompt) leaves the matrix as it is: the cases that needed it failed, saying so.
    if (isCardRefusal(pin.refusal)) throw pin.refusal;

    const results: CaseResult[] = plan.map((p) => ({ area: p.area.id as AreaId, id: p.case.id, title: p.case.title, outcome: p.outcome! }));
    return {
      tool: { name: 'p11-ksp', version: toolVersion() },
      target: open.identity,
      capabilities: plainCapabilities(capabilities),
      startedAt,
      finishedAt: new Date().toISOString(),
      areas: areas.map((a) => ({ id: a.id, title: a.title })),
      options: { ...allowed, skip },
      results,
      totals: totalsOf(results),
    };
  } finally {
    setUserInterface(previousUi);
    pin.dispose();
    await open?.close();
  }
}
