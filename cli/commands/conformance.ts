/**
 * `p11-ksp conformance run`: runs the conformance suite (conformance/runner.ts) against a PKCS#11
 * module's token or a registered provider, shows progress on stderr, prints the summary table, and
 * writes the JUnit, HTML and JSON reports.
 *
 * Everything the user could have got wrong is refused before the suite opens anything (exit 2): the
 * target options, the areas and skips, --allow-pin-lockout without --allow-destructive, and a PIN that
 * cannot be had (no terminal and no --pin-file, an unreadable or too short PIN file). The PIN itself
 * is read only when the runner first asks for it, so this process holds it as briefly as possible,
 * and it is handed over as bytes the runner wipes.
 *
 * Exit status: 0 when no case failed (not applicable and skipped are fine), 9 when at least one did,
 * the usual exitCodeFor() statuses when the target cannot be opened (5 no such token / no card of the
 * provider, 6 no such provider, 3 / 4 when the runner reports a wrong / blocked PIN), 130 when the
 * PIN prompt was cancelled or the run stopped by Ctrl+C / SIGTERM (the case in progress is finished
 * and cleaned up, the rest reported skipped, the reports written; a second signal exits at once).
 */
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { AREAS, type AreaId, type ConformanceOptions, type ConformanceTarget, type RunResult } from '../../conformance/case.js';
import { DEFAULT_REPORT_DIR, summaryText, writeReports } from '../../conformance/report/index.js';
import { validateSkips } from '../../conformance/selection.js';
import { CryptError } from '../../minidriver/errors.js';
import { ExitCode, exitCodeFor, UsageError } from '../exit-codes.js';
import { Output } from '../output.js';
import { isInteractive, readPin, readPinFile, wipe } from '../pin-input.js';
import { trapStopSignals } from '../stop-signals.js';
import { ConformanceProgress } from './conformance-progress.js';

export interface ConformanceRunOptions {
  module?: string;
  tokenLabel?: string;
  tokenSerial?: string;
  provider?: string;
  pinFile?: string;
  areas?: AreaId[];
  skip?: string[];
  allowDestructive?: boolean;
  allowPinLockout?: boolean;
  reportDir: string;
  json?: boolean;
}

/** The suite's entry point, as the command calls it. */
export type RunConformance = (options: ConformanceOptions) => Promise<RunResult>;

/** What the PIN is called in prompts and messages. */
const USER_PIN = 'user PIN of the token under test';

/** --areas: a comma-separated subset of AREAS, kept in AREAS order; anything else is a usage error. */
export function parseAreas(value: string): AreaId[] {
  const names = value.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  if (names.length === 0) throw new InvalidArgumentError(`expected one or more of ${AREAS.join(', ')}`);
  const unknown = names.filter((n) => !(AREAS as readonly string[]).includes(n));
  if (unknown.length > 0) throw new InvalidArgumentError(`unknown area ${unknown.map((n) => `"${n}"`).join(', ')}: choose from ${AREAS.join(', ')}`);
  return AREAS.filter((a) => names.includes(a));
}

/** --skip ids: repeatable and variadic; commas separate ids too (`--skip cng/,interop/`). */
function collectSkip(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), ...value.split(',').map((s) => s.trim()).filter((s) => s.length > 0)];
}

/** Which token, from the options; every inconsistent combination is a usage error. */
export function targetFrom(options: ConformanceRunOptions): ConformanceTarget {
  const { module, provider, tokenLabel, tokenSerial } = options;
  if ((module === undefined) === (provider === undefined)) {
    throw new UsageError('name the token to test: --module PATH with --token-label LABEL or --token-serial SERIAL, or --provider NAME');
  }
  if (provider !== undefined) {
    if (tokenLabel !== undefined || tokenSerial !== undefined) throw new UsageError('--token-label and --token-serial go with --module; a --provider serves its first card present');
    return { kind: 'provider', provider };
  }
  if ((tokenLabel === undefined) === (tokenSerial === undefined)) throw new UsageError('with --module give exactly one of --token-label LABEL or --token-serial SERIAL');
  const path = resolve(module!);
  if (!existsSync(path) || !statSync(path).isFile()) throw new UsageError(`--module ${path} is not a file; give the path of an installed PKCS#11 module`);
  return tokenLabel !== undefined ? { kind: 'module', module: path, tokenLabel } : { kind: 'module', module: path, tokenSerial: tokenSerial! };
}

/** --skip entries the suite would refuse (not an id or prefix, not starting with an area): a usage error now. */
function checkSkips(skip: readonly string[] | undefined): void {
  try {
    validateSkips(skip);
  } catch (err) {
    if (err instanceof CryptError) throw new UsageError(`--skip: ${err.message.slice(err.codeName.length + 2)}`);
    throw err;
  }
}

/** Refuses, before anything runs, a run whose PIN could not be obtained. */
function checkPinSource(options: ConformanceRunOptions, warn: (message: string) => void): void {
  if (options.pinFile !== undefined) {
    // Read once to check it (readable, long enough) and wiped at once; the runner's pin() reads it
    // again when a case needs it, so the PIN is not held in this process's heap for the whole run.
    wipe(readPinFile({ file: options.pinFile, what: USER_PIN, option: '--pin-file' }, warn));
    return;
  }
  if (!isInteractive()) {
    throw new UsageError('no terminal to ask for the user PIN: write it on the first line of a file (chmod 600) and pass --pin-file FILE');
  }
}

/**
 * Checks the options, runs the suite and writes the reports; resolves with the exit status (0 or 9).
 * The runner is loaded only once the options are known to be usable.
 */
export async function conformanceRunCommand(options: ConformanceRunOptions, out: Output, loadRunner: () => Promise<RunConformance>): Promise<ExitCode> {
  const target = targetFrom(options);
  if (options.allowPinLockout && !options.allowDestructive) {
    throw new UsageError('--allow-pin-lockout needs --allow-destructive too (blocking the PIN is the most destructive thing the suite does)');
  }
  checkSkips(options.skip);
  checkPinSource(options, (m) => out.note(m));
  const run = await loadRunner();

  const progress = new ConformanceProgress();
  // Why the failure is kept: a PIN that could not be had (Ctrl+C at the prompt, a PIN file with a
  // two-character "PIN") fails the case that asked; the next case must not prompt again, and the
  // command must end with that reason's exit status (130, 2), not "conformance failures".
  let pinFailure: { error: unknown } | undefined;
  const pin = async (): Promise<Uint8Array> => {
    if (pinFailure) throw pinFailure.error;
    progress.pause();
    try {
      // The file's permission warning was given by checkPinSource already.
      return await readPin({ file: options.pinFile, what: USER_PIN, option: '--pin-file' });
    } catch (err) {
      pinFailure = { error: err };
      throw err;
    } finally {
      progress.resume();
    }
  };
  // Ctrl+C while cases run: the case in progress finishes and its containers are deleted, the rest
  // are reported skipped, the reports are written, and the command ends with 130.
  const stop = trapStopSignals((m) => { progress.pause(); out.note(m); progress.resume(); }, 'the case in progress');
  let result: RunResult;
  try {
    result = await run({
      target, pin,
      ...(options.areas ? { areas: options.areas } : {}),
      skip: options.skip ?? [],
      allowDestructive: options.allowDestructive === true,
      allowPinLockout: options.allowPinLockout === true,
      onEvent: progress.onEvent,
      signal: stop.signal,
    });
  } finally {
    stop.release();
    progress.stop();
  }

  const paths = await writeReports(result, options.reportDir);
  if (options.json) out.document(result);
  else process.stdout.write(summaryText(result));
  out.note(`reports: ${paths.html}`);
  out.note(`         ${paths.junit}`);
  out.note(`         ${paths.json}`);
  if (pinFailure) throw pinFailure.error;
  if (stop.signal.aborted) return ExitCode.CANCELLED;
  return result.totals.failed > 0 ? ExitCode.CONFORMANCE_FAILED : ExitCode.OK;
}

/**
 * The runner, loaded when the command runs: the suite's cases pull in every front end, which
 * `p11-ksp --help` and the other commands have no reason to load.
 */
async function loadRunner(): Promise<RunConformance> {
  const { runConformance } = await import('../../conformance/index.js');
  return runConformance;
}

/** Registers `conformance run` on the program. */
export function conformanceCommands(program: Command): void {
  const conformance = program.command('conformance')
    .description('the conformance suite: check a PKCS#11 token or registered provider against the minidriver, CNG and CryptoAPI contracts');

  conformance.command('run')
    .description('run the suite against one token and write JUnit, HTML and JSON reports')
    .addOption(new Option('--module <path>', 'PKCS#11 module (.so) of the token to test').conflicts('provider'))
    .addOption(new Option('--token-label <label>', 'with --module: the token\'s label').conflicts('tokenSerial'))
    .addOption(new Option('--token-serial <serial>', 'with --module: the token\'s serial number'))
    .addOption(new Option('--provider <name>', 'a registration from `p11-ksp provider add`: its first card present').conflicts('module'))
    .option('--pin-file <file>', 'read the user PIN from the first line of this file (else a hidden prompt)')
    .option('--areas <list>', `comma-separated areas to run (default all): ${AREAS.join(',')}`, parseAreas)
    .option('--skip <ids...>', 'case ids or prefixes to skip (area/group/name, cng/, cng/provider/); repeatable', collectSkip)
    .option('--allow-destructive', 'allow cases that create, change and delete containers of their own (never others)')
    .option('--allow-pin-lockout', 'allow cases that block the user PIN (needs --allow-destructive; use only on a token you can unblock)')
    .option('--report-dir <dir>', 'folder for report.xml, report.html and report.json', `./${DEFAULT_REPORT_DIR}`)
    .option('--json', 'print the run\'s result as one JSON document (nothing else on stdout)')
    .action(async (options: ConformanceRunOptions) => {
      const out = new Output(options.json === true);
      try {
        process.exitCode = await conformanceRunCommand(options, out, loadRunner);
      } catch (err) {
        out.error(err);
        process.exitCode = exitCodeFor(err);
      }
    });
}
