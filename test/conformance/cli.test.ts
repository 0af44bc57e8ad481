// `p11-ksp conformance run` end to end: the built CLI in a child process with a private P11KSP_HOME,
// against SoftHSM2 tokens made here with key pairs from pkcs11-tool (the "other tool").
import { strict as assert } from 'node:assert';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { AREAS, type RunResult } from '../../conformance/case.js';
import { type CliResult, runCli, runInTerminal, type SignalWhen, tempDir, writePinFile } from '../cli/harness.js';
import { buildPinCounterShim, createSoftHsm, generateKeyPair, pinCounterEnv, SOFTHSM2_MODULE, type SoftHsmToken } from '../rigs/index.js';

/** CKR_DEVICE_ERROR: what a token answers when its hardware fails mid-operation. */
const CKR_DEVICE_ERROR = 0x30;

// Tokens before anything C_Initializes SoftHSM2 (test/rigs/README.md). One per kind of run that logs
// in, so a wrong PIN or an injected fault never shares a token with the runs that must pass.
const rig = createSoftHsm({ tokens: [{ label: 'conf-cli-main' }, { label: 'conf-cli-fault' }, { label: 'conf-cli-provider' }] });
const MAIN = rig.token('conf-cli-main');
const FAULT = rig.token('conf-cli-fault');
const PROVIDER = rig.token('conf-cli-provider');

function giveKeys(token: SoftHsmToken): void {
  const t = { modulePath: SOFTHSM2_MODULE, label: token.label, pin: token.pin };
  generateKeyPair(t, { keyType: 'rsa:2048', id: '01', label: 'conf-rsa', extraArgs: ['--usage-sign', '--usage-decrypt'] });
  generateKeyPair(t, { keyType: 'EC:prime256v1', id: '02', label: 'conf-ec', extraArgs: ['--usage-sign'] });
}

type Json = Record<string, unknown>;

/** The JUnit document's root counts and per-suite counts. */
function junitCounts(xml: string): { tests: number; failures: number; skipped: number; suites: Map<string, Json> } {
  assert.equal(XMLValidator.validate(xml), true, 'report.xml is well-formed');
  const root = (new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@' }).parse(xml) as Json).testsuites as Json;
  const suites = root.testsuite === undefined ? [] : Array.isArray(root.testsuite) ? root.testsuite as Json[] : [root.testsuite as Json];
  return {
    tests: Number(root['@tests']), failures: Number(root['@failures']), skipped: Number(root['@skipped']),
    suites: new Map(suites.map((s) => [String(s['@name']), s])),
  };
}

/** What any RunResult must satisfy: totals agree with the results, every result is one of the areas. */
function assertConsistent(result: RunResult): void {
  const count = (status: string): number => result.results.filter((r) => r.outcome.status === status).length;
  assert.deepEqual(result.totals, { passed: count('passed'), failed: count('failed'), notApplicable: count('not-applicable'), skipped: count('skipped') });
  const areas = new Set(result.areas.map((a) => a.id));
  for (const r of result.results) assert.ok(areas.has(r.area), `${r.area}/${r.id} belongs to a selected area`);
}

describe('p11-ksp conformance run', function () {
  this.timeout(600_000);
  const tmp = tempDir('p11ksp-conformance-cli-');
  const home = join(tmp.dir, 'home');
  const env = { P11KSP_HOME: home };
  const pins = [MAIN.pin, FAULT.pin, PROVIDER.pin];
  const pinFile = (token: SoftHsmToken): string => writePinFile(tmp.dir, `${token.label}.pin`, token.pin);
  const reportDirs: string[] = [];
  const outputs: CliResult[] = [];
  let runs = 0;

  /** Runs the CLI; keeps the output for the "no PIN anywhere" check. */
  const run = async (args: string[], extraEnv: NodeJS.ProcessEnv = {}, interrupt?: SignalWhen): Promise<CliResult> => {
    const r = await runCli(args, { ...env, ...extraEnv }, 540_000, interrupt);
    outputs.push(r);
    return r;
  };
  /** A fresh report folder (not created: the CLI must create it). */
  const reportDir = (): string => {
    const dir = join(tmp.dir, `reports-${++runs}`);
    reportDirs.push(dir);
    return dir;
  };
  const moduleArgs = (token: SoftHsmToken): string[] => ['--module', SOFTHSM2_MODULE, '--token-label', token.label];

  before(() => {
    giveKeys(MAIN);
    giveKeys(FAULT);
    giveKeys(PROVIDER);
  });
  after(() => tmp.remove());

  it('runs against a token and writes the three reports; exit 0 when nothing failed', async () => {
    const dir = reportDir();
    const r = await run(['conformance', 'run', ...moduleArgs(MAIN), '--pin-file', pinFile(MAIN), '--report-dir', dir]);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.deepEqual(readdirSync(dir).sort(), ['report.html', 'report.json', 'report.xml']);
    const result = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as RunResult;
    assertConsistent(result);
    assert.equal(result.target.label, MAIN.label);
    assert.equal(result.target.serial, MAIN.serial);
    assert.equal(result.totals.failed, 0);
    assert.ok(result.totals.passed > 0, 'some cases ran and passed');
    // Every area the build has, in AREAS order.
    const areaIds = result.areas.map((a) => a.id);
    assert.ok(areaIds.length > 0);
    assert.deepEqual(areaIds, AREAS.filter((a) => areaIds.includes(a)));

    const junit = junitCounts(readFileSync(join(dir, 'report.xml'), 'utf8'));
    assert.equal(junit.tests, result.results.length);
    assert.equal(junit.failures, 0);
    assert.equal(junit.skipped, result.totals.notApplicable + result.totals.skipped);
    assert.deepEqual([...junit.suites.keys()], areaIds);
    for (const [area, suite] of junit.suites) assert.equal(Number(suite['@tests']), result.results.filter((c) => c.area === area).length);

    const html = readFileSync(join(dir, 'report.html'), 'utf8');
    for (const c of result.results) assert.ok(html.includes(`<td><code>${c.id.replace(/&/g, '&amp;')}</code></td>`), `${c.area}/${c.id} in the matrix`);

    // Without a terminal: one line per finished case on stderr; the summary on stdout; paths on stderr.
    assert.equal((r.stderr.match(/^p11-ksp: \[\d+\/\d+\] (passed|FAILED|n\/a|skipped) /gm) ?? []).length, result.results.length);
    assert.match(r.stdout, new RegExp(`^total\\s+${result.totals.passed}\\s+0\\s+${result.totals.notApplicable}\\s+${result.totals.skipped}$`, 'm'));
    assert.ok(r.stderr.includes(join(dir, 'report.html')));
  });

  it('Ctrl+C (SIGINT) while cases run: the case in progress ends, the rest are skipped, the reports are written, exit 130', async () => {
    const dir = reportDir();
    // Sent once the first case has finished: the second is then running, or about to.
    const r = await run(['conformance', 'run', ...moduleArgs(MAIN), '--pin-file', pinFile(MAIN), '--report-dir', dir, '--areas', 'cng'], {},
      { when: /^p11-ksp: \[1\/\d+\] /m, signal: 'SIGINT' });
    assert.equal(r.code, 130, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, /SIGINT: stopping after the case in progress and cleaning up/);
    const result = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as RunResult;
    assertConsistent(result);
    const stopped = result.results.filter((c) => c.outcome.status === 'skipped');
    assert.ok(stopped.length > 0, 'cases after the stop are reported, skipped');
    for (const c of stopped) assert.match(c.outcome.status === 'skipped' ? c.outcome.reason : '', /stopped/, `${c.id} says the run was stopped`);
    assert.ok(result.totals.passed >= 1, 'the cases before the stop ran');
    assert.equal(result.totals.failed, 0, 'the case in progress was not cut off');
  });

  it('--json prints the RunResult on stdout and nothing else', async () => {
    const dir = reportDir();
    const r = await run(['conformance', 'run', ...moduleArgs(MAIN), '--pin-file', pinFile(MAIN), '--report-dir', dir, '--areas', 'cng,cryptoapi', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout) as RunResult;
    assertConsistent(result);
    assert.deepEqual(result.areas.map((a) => a.id), ['cng', 'cryptoapi']);
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')), result);
    assert.equal(result.tool.name, 'p11-ksp');
  });

  it('--skip marks the named cases skipped', async () => {
    const dir = reportDir();
    const r = await run(['conformance', 'run', ...moduleArgs(MAIN), '--pin-file', pinFile(MAIN), '--report-dir', dir, '--areas', 'cng', '--skip', 'cng/', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout) as RunResult;
    assert.ok(result.results.length > 0);
    assert.ok(result.results.every((c) => c.outcome.status === 'skipped'), 'every cng case skipped');
    assert.deepEqual(result.options.skip, ['cng/']);
  });

  /** A run refused before anything opens the token: exit 2, the reason on stderr, no report folder. */
  const refused = async (args: string[], message: RegExp): Promise<void> => {
    const dir = reportDir();
    const r = await run(['conformance', 'run', ...args, '--report-dir', dir]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, message);
    assert.equal(r.stdout, '');
    assert.ok(!existsSync(dir), 'nothing ran: no report folder');
  };

  it('refuses without a terminal and without --pin-file (exit 2)', () => refused(moduleArgs(MAIN), /no terminal to ask for the user PIN.*--pin-file/));
  it('refuses --allow-pin-lockout without --allow-destructive (exit 2)', () =>
    refused([...moduleArgs(MAIN), '--pin-file', pinFile(MAIN), '--allow-pin-lockout'], /--allow-pin-lockout needs --allow-destructive/));
  it('refuses an unknown area (exit 2)', () => refused([...moduleArgs(MAIN), '--pin-file', pinFile(MAIN), '--areas', 'cng,pkcs15'], /unknown area "pkcs15"/));
  it('refuses a --skip entry that names no area (exit 2)', () => refused([...moduleArgs(MAIN), '--pin-file', pinFile(MAIN), '--skip', 'pkcs15/'], /--skip: .*does not start with an area/));
  it('refuses a PIN file whose first line is too short to be a PIN (exit 2)', () =>
    refused([...moduleArgs(MAIN), '--pin-file', writePinFile(tmp.dir, 'short.pin', '12')], /must have at least 4 characters/));
  it('refuses no target, or two tokens at once (exit 2)', async () => {
    await refused(['--pin-file', pinFile(MAIN)], /--module PATH with --token-label/);
    await refused([...moduleArgs(MAIN), '--token-serial', MAIN.serial, '--pin-file', pinFile(MAIN)], /cannot be used with/);
  });

  it('a token label that does not exist: exit 5, naming the tokens there are', async () => {
    const r = await run(['conformance', 'run', '--module', SOFTHSM2_MODULE, '--token-label', 'no-such-token', '--pin-file', pinFile(MAIN), '--report-dir', reportDir()]);
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, /SCARD_E_NO_SMARTCARD/);
    assert.match(r.stderr, /no-such-token/);
    assert.equal(r.stdout, '');
  });

  it('a token whose signing fails (injected CKR_DEVICE_ERROR on C_Sign): the cases fail, exit 9', async () => {
    // The pin-counter shim wraps the real SoftHSM2 module; every C_Sign answers CKR_DEVICE_ERROR
    // without reaching SoftHSM2, as a token with a broken signing engine would.
    const shim = buildPinCounterShim();
    const shimEnv = pinCounterEnv({ stateDir: join(tmp.dir, 'shim-state'), failAfter: [{ after: 0, ckr: CKR_DEVICE_ERROR, function: 'C_Sign' }] });
    const dir = reportDir();
    const r = await run(['conformance', 'run', '--module', shim, '--token-label', FAULT.label, '--pin-file', pinFile(FAULT), '--report-dir', dir, '--areas', 'cng'], shimEnv);
    assert.equal(r.code, 9, `${r.stdout}\n${r.stderr}`);
    const result = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as RunResult;
    assertConsistent(result);
    const failed = result.results.filter((c) => c.outcome.status === 'failed');
    assert.ok(failed.length > 0);
    assert.ok(failed.some((c) => c.id.startsWith('sign/')), `a signing case failed: ${failed.map((c) => c.id).join(', ')}`);
    assert.ok(result.totals.passed > 0, 'cases that do not sign still pass');
    const junit = junitCounts(readFileSync(join(dir, 'report.xml'), 'utf8'));
    assert.equal(junit.failures, failed.length);
    for (const c of failed) assert.match(r.stdout, new RegExp(`^  cng/${c.id.replace(/[/.*+?^${}()|[\]\\]/g, '\\$&')}: `, 'm'));
  });

  it('a wrong PIN in the file: exit 3 after one try on the card, so a token with 2 tries is not blocked', async () => {
    // The shim counts tries over SoftHSM2 (which has no counter): with 2 tries, presenting the wrong
    // PIN once per case would block the token; the runner checks it once and stops.
    const shim = buildPinCounterShim();
    const shimEnv = pinCounterEnv({ stateDir: join(tmp.dir, 'shim-wrong-pin'), maxTries: 2 });
    const wrong = await run(['conformance', 'run', '--module', shim, '--token-label', FAULT.label, '--pin-file', writePinFile(tmp.dir, 'wrong.pin', 'not-the-pin-0000'), '--report-dir', reportDir(), '--areas', 'cng'], shimEnv);
    assert.equal(wrong.code, 3, `${wrong.stdout}\n${wrong.stderr}`);
    assert.match(wrong.stderr, /SCARD_W_WRONG_CHV/);
    const right = await run(['conformance', 'run', '--module', shim, '--token-label', FAULT.label, '--pin-file', pinFile(FAULT), '--report-dir', reportDir(), '--areas', 'cng'], shimEnv);
    assert.equal(right.code, 0, `the token is not blocked: ${right.stdout}\n${right.stderr}`);
  });

  it('--provider NAME runs against a registration from `p11-ksp provider add`', async () => {
    const add = await run(['provider', 'add', 'conf-provider', '--module', SOFTHSM2_MODULE, '--label', PROVIDER.label]);
    assert.equal(add.code, 0, add.stderr);
    const dir = reportDir();
    const r = await run(['conformance', 'run', '--provider', 'conf-provider', '--pin-file', pinFile(PROVIDER), '--report-dir', dir, '--areas', 'cryptoapi', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout) as RunResult;
    assert.equal(result.target.kind, 'provider');
    assert.equal(result.target.source, 'conf-provider');
    assert.equal(result.target.label, PROVIDER.label);
    assert.equal(result.totals.failed, 0);
    assert.ok(result.totals.passed > 0);
  });

  it('on a terminal: the PIN at a hidden prompt, a live progress line with the case\'s steps, then the summary', async () => {
    const dir = reportDir();
    const { code, screen } = await runInTerminal(['conformance', 'run', ...moduleArgs(MAIN), '--areas', 'cryptoapi', '--allow-destructive', '--report-dir', dir],
      env, [{ prompt: /Enter the user PIN/, answer: MAIN.pin }], 540_000);
    outputs.push({ code, stdout: screen, stderr: '' });
    assert.equal(code, 0, screen);
    assert.match(screen, /\r\x1b\[2K[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] \d\d:\d\d \[\d+\/\d+\] cryptoapi\//, 'a live line: spinner, elapsed, n/total, case');
    // The destructive CryptoAPI case generates keys and says so while it runs.
    // (The line is cut at the terminal's width, 80 columns under `script`: only the step's start is sure to show.)
    assert.match(screen, /\[\d+\/\d+\] cryptoapi\/create\/newkeyset-genkey-delete — generating/);
    assert.match(screen, /^total\s+\d+\s+0\s+/m);
    assert.ok(existsSync(join(dir, 'report.html')));
  });

  it('on a terminal, Ctrl+C at the PIN prompt: asked once, the cases that need the PIN fail, exit 130', async () => {
    const dir = reportDir();
    const { code, screen } = await runInTerminal(['conformance', 'run', ...moduleArgs(MAIN), '--areas', 'cryptoapi', '--report-dir', dir],
      env, [{ prompt: /Enter the user PIN/, answer: '\x03', enter: false }], 540_000);
    outputs.push({ code, stdout: screen, stderr: '' });
    assert.equal(code, 130, screen);
    const result = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as RunResult;
    const failed = result.results.filter((c) => c.outcome.status === 'failed');
    assert.ok(failed.length > 0);
    for (const c of failed) assert.ok(c.outcome.status === 'failed' && /cancelled at the PIN prompt/.test(c.outcome.error.message), `${c.id}: cancelled`);
    const afterFirstFailure = screen.slice(screen.indexOf('FAILED'));
    assert.doesNotMatch(afterFirstFailure, /Enter the user PIN/, 'never asked again');
    assert.match(screen, /p11-ksp: cancelled at the PIN prompt\s*$/);
  });

  it('never shows a PIN: not on stdout, stderr, nor in any report file', () => {
    assert.ok(outputs.length >= 10);
    for (const r of outputs) for (const pin of pins) {
      assert.ok(!r.stdout.includes(pin) && !r.stderr.includes(pin), 'no PIN in the output');
    }
    let files = 0;
    for (const dir of reportDirs.filter((d) => existsSync(d))) {
      for (const name of readdirSync(dir)) {
        const text = readFileSync(join(dir, name), 'utf8');
        files++;
        for (const pin of pins) assert.ok(!text.includes(pin), `no PIN in ${join(dir, name)}`);
      }
    }
    assert.ok(files >= 15, `checked ${files} report files`);
  });
});
