// A private SoftHSM2 token store for one benchmark run: a temp dir with its own softhsm2.conf,
// SOFTHSM2_CONF pointed at it (before anything loads the module), one token made by softhsm2-util.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const SOFTHSM2_MODULE = '/usr/lib/softhsm/libsofthsm2.so';
export const PKCS11_SPY_MODULE = '/usr/lib/x86_64-linux-gnu/pkcs11-spy.so';

export interface BenchStore {
  dir: string;
  confPath: string;
  label: string;
  pin: string;
  remove(): void;
}

export function createStore(label: string): BenchStore {
  const dir = mkdtempSync(join(tmpdir(), 'p11ksp-bench-'));
  const tokenDir = join(dir, 'tokens');
  mkdirSync(tokenDir);
  const confPath = join(dir, 'softhsm2.conf');
  writeFileSync(confPath, [`directories.tokendir = ${tokenDir}`, 'objectstore.backend = file', 'log.level = ERROR', ''].join('\n'));
  process.env.SOFTHSM2_CONF = confPath; // before the module's C_Initialize; children inherit it
  let removed = false;
  const remove = (): void => {
    if (removed) return;
    removed = true;
    rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', remove);
  const pin = randomBytes(8).toString('hex');
  const soPin = randomBytes(8).toString('hex');
  try {
    execFileSync('softhsm2-util', ['--init-token', '--free', '--label', label, '--pin', pin, '--so-pin', soPin], { stdio: 'pipe', encoding: 'utf8' });
  } catch (error) {
    remove();
    const e = error as { stderr?: string; message: string };
    throw new Error(`softhsm2-util --init-token failed: ${e.stderr || e.message}`);
  }
  return { dir, confPath, label, pin, remove };
}

export function softhsmVersion(): string {
  try {
    return execFileSync('softhsm2-util', ['--version'], { encoding: 'utf8', stdio: 'pipe' }).trim();
  } catch {
    return 'unknown';
  }
}
