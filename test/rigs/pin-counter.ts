// Builds and configures the pin-counter shim (pin-counter/pin-counter-shim.c): a PKCS#11 module
// around SoftHSM2 that adds a real card's user-PIN retry counter and fault injection. See the C
// file's header for the exact semantics.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findRepoRoot } from './repo-root.js';
import { SOFTHSM2_MODULE } from './softhsm.js';

/** Relative to the repository root: the .c file is not copied to dist/ by tsc. */
export const PIN_COUNTER_SHIM_SOURCE = 'test/rigs/pin-counter/pin-counter-shim.c';

const CC_FLAGS = ['-shared', '-fPIC', '-O2', '-Wall', '-Wextra', '-fvisibility=hidden'];
const LIBS = ['-ldl', '-lpthread'];

let built: string | undefined;

/**
 * Compiles the shim into a cache dir under os.tmpdir() (once per source/flags hash, shared by
 * processes) and returns the .so path. Needs cc and <p11-kit/pkcs11.h> (Debian: libp11-kit-dev).
 */
export function buildPinCounterShim(): string {
  if (built && existsSync(built)) return built;
  const source = join(findRepoRoot(), PIN_COUNTER_SHIM_SOURCE);
  const includeFlags = p11KitIncludeFlags();
  const hash = createHash('sha256')
    .update(readFileSync(source))
    .update(JSON.stringify([CC_FLAGS, includeFlags, LIBS]))
    .digest('hex')
    .slice(0, 16);
  const cacheDir = join(tmpdir(), 'p11ksp-pin-counter-shim');
  mkdirSync(cacheDir, { recursive: true });
  const output = join(cacheDir, `pin-counter-shim-${hash}.so`);
  if (!existsSync(output)) {
    // Compile beside and rename: a parallel process never dlopens a half-written .so.
    const partial = `${output}.${process.pid}.tmp`;
    try {
      execFileSync('cc', [...CC_FLAGS, ...includeFlags, '-o', partial, source, ...LIBS], { stdio: 'pipe' });
    } catch (error) {
      const e = error as { stderr?: Buffer; message: string };
      throw new Error(`compiling ${source} failed: ${e.stderr?.toString() || e.message}`);
    }
    renameSync(partial, output);
  }
  built = output;
  return output;
}

function p11KitIncludeFlags(): string[] {
  let flags: string[];
  try {
    flags = execFileSync('pkg-config', ['--cflags', 'p11-kit-1'], { encoding: 'utf8', stdio: 'pipe' }).trim().split(/\s+/).filter(Boolean);
  } catch {
    flags = ['-I/usr/include/p11-kit-1'];
  }
  const dirs = flags.filter((f) => f.startsWith('-I')).map((f) => f.slice(2));
  if (!dirs.some((dir) => existsSync(join(dir, 'p11-kit', 'pkcs11.h')))) {
    throw new Error('pin-counter shim needs <p11-kit/pkcs11.h>: apt-get install -y libp11-kit-dev');
  }
  return flags;
}

export interface FaultRule {
  /** Calls of the function that must succeed (return CKR_OK) before it starts failing. */
  after: number;
  /** The CKR it then returns on every call, e.g. 0x32 CKR_DEVICE_REMOVED. */
  ckr: number;
  /** "C_Sign", ..., or "*" for every function except C_Initialize/C_Finalize/C_GetFunctionList. */
  function: string;
}

export interface PinCounterConfig {
  /** Real module; default SoftHSM2. */
  target?: string;
  /** Default 3. */
  maxTries?: number;
  /** Where per-token counters live; default: a fresh temp dir, removed at exit. */
  stateDir?: string;
  /** The wrong PIN that uses up the last try returns CKR_PIN_LOCKED instead of CKR_PIN_INCORRECT. */
  lockOnLast?: boolean;
  failAfter?: FaultRule[];
}

export interface PinCounterSetup {
  /** The shim .so to load instead of the target. */
  modulePath: string;
  stateDir: string;
  /** The P11KSP_SHIM_* variables, for child processes (merge with process.env). */
  env: Record<string, string>;
}

/** The P11KSP_SHIM_* environment for a configuration (stateDir must be given here). */
export function pinCounterEnv(config: PinCounterConfig & { stateDir: string }): Record<string, string> {
  return {
    P11KSP_SHIM_TARGET: config.target ?? SOFTHSM2_MODULE,
    P11KSP_SHIM_MAX_TRIES: String(config.maxTries ?? 3),
    P11KSP_SHIM_STATE_DIR: config.stateDir,
    P11KSP_SHIM_LOCK_ON_LAST: config.lockOnLast ? '1' : '0',
    P11KSP_SHIM_FAIL_AFTER: formatFaultRules(config.failAfter ?? []),
  };
}

export function formatFaultRules(rules: FaultRule[]): string {
  return rules.map((r) => `${r.after}:0x${r.ckr.toString(16)}:${r.function}`).join(',');
}

/**
 * Builds the shim and writes its configuration into process.env. The shim reads it at its own
 * C_Initialize (the target path at first load), so configure before loading, or C_Finalize and
 * C_Initialize the shim again to apply a change.
 */
export function configurePinCounterShim(config: PinCounterConfig = {}): PinCounterSetup {
  const modulePath = buildPinCounterShim();
  const stateDir = config.stateDir ?? makeStateDir();
  const env = pinCounterEnv({ ...config, stateDir });
  Object.assign(process.env, env);
  return { modulePath, stateDir, env };
}

/** Forgets every counter in a state dir: all tokens back to the maximum number of tries. */
export function resetPinCounters(stateDir: string): void {
  for (const name of readdirSync(stateDir)) {
    if (name.endsWith('.tries')) rmSync(join(stateDir, name), { force: true });
  }
}

function makeStateDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'p11ksp-pincounter-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
