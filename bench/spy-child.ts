// Token calls per signature, counted by OpenSC's pkcs11-spy in a child process: the bridge loads the
// spy as its module (PKCS11SPY = the real SoftHSM2), signs once to open the key, then the log between
// two marks (byte offsets; the spy flushes after every call) holds exactly the calls of N signatures.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { AT_ECDSA_P256, AT_KEYEXCHANGE, CALG_SHA_256 } from '../minidriver/constants.js';
import { Pkcs11Minidriver } from '../pkcs11-bridge/driver.js';
import { pk } from '../pkcs11-bridge/pkcs11.js';
import { RawSide } from './raw-side.js';
import { PKCS11_SPY_MODULE, SOFTHSM2_MODULE } from './softhsm-store.js';

export const SPY_CHILD_FLAG = '--spy-child';
export const SPY_SIGNATURES = 10;

export interface CallCount {
  signatures: number;
  calls: number;
  perSignature: number;
  /** Function name → number of calls in the measured window. */
  functions: Record<string, number>;
}

export interface SpyResult {
  rsa: CallCount;
  ecdsa: CallCount;
  /** The same window for raw pkcs11js C_SignInit + C_Sign (the floor, through the same spy). */
  rawRsa: CallCount;
  logBytes: number;
}

const CALL_LINE = /^\d+: (C_\w+)\s*$/gm;

function readSegment(log: string, from: number, to: number): string {
  const fd = openSync(log, 'r');
  try {
    const buf = Buffer.alloc(to - from);
    readSync(fd, buf, 0, buf.length, from);
    return buf.toString('latin1');
  } finally {
    closeSync(fd);
  }
}

export function countCalls(segment: string, signatures: number): CallCount {
  const functions: Record<string, number> = {};
  let calls = 0;
  for (const m of segment.matchAll(CALL_LINE)) {
    calls++;
    functions[m[1]] = (functions[m[1]] ?? 0) + 1;
  }
  return { signatures, calls, perSignature: calls / signatures, functions };
}

/** Child side: runs in the process spawned with SPY_CHILD_FLAG and prints a SpyResult as JSON. */
export async function spyChildMain(): Promise<void> {
  const log = process.env.PKCS11SPY_OUTPUT!;
  const label = process.env.BENCH_LABEL!;
  const pin = process.env.BENCH_PIN!;
  const rsaLabel = process.env.BENCH_RSA_LABEL!;
  const mark = (): number => statSync(log).size;

  const driver = new Pkcs11Minidriver({ modulePath: PKCS11_SPY_MODULE });
  const raw = { side: undefined as RawSide | undefined };
  try {
    const card = await driver.openCard({ label });
    await card.CardAuthenticatePin('user', Buffer.from(pin));
    const hash = createHash('sha256').update('spy').digest();
    const rsaInfo = () => ({ dwVersion: 2, bContainerIndex: 0, dwKeySpec: AT_KEYEXCHANGE, dwSigningFlags: 0, aiHashAlg: CALG_SHA_256, pbData: hash });
    const ecInfo = () => ({ dwVersion: 2, bContainerIndex: 1, dwKeySpec: AT_ECDSA_P256, dwSigningFlags: 0, aiHashAlg: 0, pbData: hash });

    const window = async (sign: () => Promise<unknown> | unknown): Promise<CallCount> => {
      await sign(); // warm-up: opens the key (lookup, dispatcher estimate)
      const from = mark();
      for (let i = 0; i < SPY_SIGNATURES; i++) await sign();
      return countCalls(readSegment(log, from, mark()), SPY_SIGNATURES);
    };

    const rsa = await window(() => card.CardSignData(rsaInfo()));
    const ecdsa = await window(() => card.CardSignData(ecInfo()));

    // The floor through the same spy: raw pkcs11js on the same module instance and the same key.
    raw.side = new RawSide(PKCS11_SPY_MODULE, label, pin);
    const r = raw.side;
    const key = r.findByLabel(pk.CKO_PRIVATE_KEY, rsaLabel);
    const input = Buffer.concat([Buffer.from('3031300d060960864801650304020105000420', 'hex'), hash]);
    const mech = { mechanism: pk.CKM_RSA_PKCS };
    const rawRsa = await window(() => {
      r.pkcs11.C_SignInit(r.session, mech, key);
      return r.pkcs11.C_Sign(r.session, input, Buffer.allocUnsafe(256));
    });
    const result: SpyResult = { rsa, ecdsa, rawRsa, logBytes: mark() };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    raw.side?.close();
    await driver.close();
  }
}

/** Parent side: spawns this same compiled script with SPY_CHILD_FLAG and returns its counts. */
export function runSpyChild(script: string, dir: string, label: string, pin: string, rsaLabel: string): SpyResult {
  const log = join(dir, 'pkcs11-spy.log');
  const out = execFileSync(process.execPath, [script, SPY_CHILD_FLAG], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 60_000,
    env: {
      ...process.env,
      PKCS11SPY: SOFTHSM2_MODULE,
      PKCS11SPY_OUTPUT: log,
      BENCH_LABEL: label,
      BENCH_PIN: pin,
      BENCH_RSA_LABEL: rsaLabel,
    },
  });
  const line = out.trim().split('\n').pop() ?? '';
  return JSON.parse(line) as SpyResult;
}
