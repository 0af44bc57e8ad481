// Runs the built CLI (dist/cli/main.js) as users do: a child process with its own P11KSP_HOME, either
// with no terminal (stdin is /dev/null, as in CI) or under a pseudo-terminal made by util-linux
// `script`, where a "person" types answers once the prompt they answer is on the screen.
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root, from dist/test/cli/harness.js. */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const MAIN_JS = join(REPO_ROOT, 'dist', 'cli', 'main.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A temporary folder for P11KSP_HOME and PIN files; remove() deletes it. */
export function tempDir(prefix = 'p11ksp-cli-test-'): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A PIN file as a careful user makes one: first line the PIN, mode 0600. */
export function writePinFile(dir: string, name: string, pin: string): string {
  const path = join(dir, name);
  writeFileSync(path, `${pin}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
  return path;
}

/** The child's environment: ours, with the CLI's own variables replaced by `extra` only. */
function cliEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of Object.keys(env)) if (key.startsWith('P11KSP_')) delete env[key];
  return { ...env, ...extra };
}

/** A signal sent to the CLI once its stderr so far matches `when` (once). */
export interface SignalWhen {
  when: RegExp;
  signal: NodeJS.Signals;
}

/** Runs `node dist/cli/main.js ...args` with no terminal: stdin is /dev/null. */
export function runCli(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 60_000, interrupt?: SignalWhen): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN_JS, ...args], { env: cliEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let signalled = false;
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (interrupt && !signalled && interrupt.when.test(stderr)) {
        signalled = true;
        child.kill(interrupt.signal);
      }
    });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`p11-ksp ${args.join(' ')} timed out\n${stdout}\n${stderr}`)); }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export interface TerminalAnswer {
  /** What must be on the screen before the answer is typed. */
  prompt: RegExp;
  /** Typed, followed by Enter (\r, as a terminal sends it) unless `enter` is false. */
  answer: string;
  /** false: type `answer` as is (keys such as Ctrl+C '\x03' or an arrow '\x1b[B'), no Enter after. */
  enter?: boolean;
}

/**
 * Runs the CLI under a pseudo-terminal (`script -qfec CMD /dev/null`: stdin, stdout and stderr of the
 * CLI are the terminal). Each answer is typed only after its prompt appears past the previous answer,
 * as a person would; typing earlier would hit the terminal while it still echoes. Returns everything
 * the terminal showed.
 */
export function runInTerminal(args: string[], env: NodeJS.ProcessEnv, answers: TerminalAnswer[], timeoutMs = 60_000): Promise<{ code: number | null; screen: string }> {
  return runScriptInTerminal(MAIN_JS, args, env, answers, timeoutMs);
}

/** runInTerminal for any node script: `node SCRIPT ...args` under a pseudo-terminal. */
export function runScriptInTerminal(script: string, args: string[], env: NodeJS.ProcessEnv, answers: TerminalAnswer[], timeoutMs = 60_000): Promise<{ code: number | null; screen: string }> {
  const command = [process.execPath, script, ...args].map(shellQuote).join(' ');
  const what = script === MAIN_JS ? `p11-ksp ${args.join(' ')}` : `node ${script} ${args.join(' ')}`;
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qfec', command, '/dev/null'], { env: cliEnv(env), stdio: ['pipe', 'pipe', 'pipe'] });
    let screen = '';
    let searchFrom = 0;
    const pending = [...answers];
    const onOutput = (d: Buffer): void => {
      screen += d.toString();
      const next = pending[0];
      if (!next) return;
      const match = next.prompt.exec(screen.slice(searchFrom));
      if (!match) return;
      pending.shift();
      searchFrom += match.index + match[0].length;
      // A short pause, as between seeing a prompt and typing: the prompt has set up its raw mode.
      setTimeout(() => child.stdin.write(next.enter === false ? next.answer : `${next.answer}\r`), 100);
    };
    child.stdout.on('data', onOutput);
    child.stderr.on('data', onOutput);
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${what} under a terminal timed out; screen so far:\n${screen}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      child.stdin.destroy();
      if (pending.length > 0) reject(new Error(`prompt ${pending[0]!.prompt} never appeared; screen:\n${screen}`));
      else resolve({ code, screen });
    });
  });
}

/** The step lines of the demo's human output: "[n/8] title: ...". */
export function stepLines(stdout: string): string[] {
  return stdout.split('\n').filter((line) => /^\[\d+\/8\] /.test(line));
}
