/**
 * C-level call counting with OpenSC's pkcs11-spy, in a child process: the child loads pkcs11-spy.so as
 * its module (PKCS11SPY = the real module, PKCS11SPY_OUTPUT = a log) and prints one JSON line; the spy
 * writes one "N: C_Name" line per call that reaches the module, whoever made it (pkcs11js, the native
 * addon, graphene). An independent counter: nothing of the code under test is wrapped.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PKCS11_SPY_MODULE = '/usr/lib/x86_64-linux-gnu/pkcs11-spy.so';

/** Whether pkcs11-spy (Debian package opensc-pkcs11) is installed. */
export function spyAvailable(): boolean {
  return existsSync(PKCS11_SPY_MODULE);
}

/** URL of a compiled module of this package, by its path under dist/ (e.g. 'native/pkcs11-direct.js'). */
export function distUrl(path: string): string {
  return new URL(`../../${path}`, import.meta.url).href;
}

/**
 * Source for a child script: `mark()` (the log's size now) and `callsSince(from)` (spy calls per
 * function since a mark). The spy flushes after every call, so a mark taken after an awaited call
 * is exact.
 */
export const SPY_CHILD_PRELUDE = `
import { readFileSync, statSync } from 'node:fs';
const SPY_LOG = process.env.PKCS11SPY_OUTPUT;
const mark = () => statSync(SPY_LOG).size;
const callsSince = (from) => {
  const counts = {};
  const text = readFileSync(SPY_LOG).subarray(from).toString('latin1');
  for (const m of text.matchAll(/^\\d+: (C_\\w+)\\s*$/gm)) counts[m[1]] = (counts[m[1]] ?? 0) + 1;
  return counts;
};
`;

/**
 * Source for a child script that uses the front ends: a smart card service over pkcs11-spy (SPY_MODULE)
 * that shows only the token labelled SPY_LABEL (the store is the parent's, shared by other suites),
 * installed as the process's default service.
 */
export const SPY_SERVICE_SETUP = `
const { Pkcs11Minidriver } = await import(${JSON.stringify(distUrl('pkcs11-bridge/index.js'))});
const { SmartCardService } = await import(${JSON.stringify(distUrl('smartcard/service.js'))});
const { setDefaultSmartCardService } = await import(${JSON.stringify(distUrl('smartcard/default-service.js'))});
const driverFactory = (modulePath) => {
  const driver = new Pkcs11Minidriver({ modulePath });
  return {
    name: driver.name,
    listReaders: async () => (await driver.listReaders()).filter((r) => r.card?.label === process.env.SPY_LABEL),
    CardAcquireContext: driver.CardAcquireContext.bind(driver),
    releaseCard: (c) => driver.releaseCard?.(c) ?? Promise.resolve(),
    close: () => driver.close(),
  };
};
await setDefaultSmartCardService(new SmartCardService({
  registrations: [{ name: 'spy', kind: 'minidriver', module: process.env.SPY_MODULE, match: {}, installedAt: new Date(0).toISOString(), installSequence: 1, priority: 0 }],
  driverFactory, globalCache: null,
}));
`;

/**
 * Runs an ESM script (SPY_CHILD_PRELUDE is put in front) in a fresh node with pkcs11-spy in front of
 * `realModule`; returns the JSON of its last stdout line. The script reaches the spy through
 * PKCS11_SPY_MODULE (in its environment as SPY_MODULE); SOFTHSM2_CONF and the rest are inherited.
 */
export function runUnderSpy(script: string, realModule: string, env: Record<string, string> = {}): unknown {
  const dir = mkdtempSync(join(tmpdir(), 'p11ksp-spy-'));
  try {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', SPY_CHILD_PRELUDE + script], {
      encoding: 'utf8',
      timeout: 90_000,
      cwd: fileURLToPath(new URL('../../../', import.meta.url)), // repository root: bare imports resolve from node_modules
      env: { ...process.env, PKCS11SPY: realModule, PKCS11SPY_OUTPUT: join(dir, 'spy.log'), SPY_MODULE: PKCS11_SPY_MODULE, ...env },
    });
    assert.equal(r.status, 0, `spy child failed (${String(r.status ?? r.signal)}): ${r.stderr}${r.error?.message ?? ''}`);
    return JSON.parse(r.stdout.trim().split('\n').pop()!);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
