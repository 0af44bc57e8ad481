// Token calls per operation, counted by OpenSC's pkcs11-spy in a child process: the bridge (and the
// smart card service of the CNG and CryptoAPI front ends) load the spy as their module (PKCS11SPY = the real SoftHSM2),
// run the operation once to warm it (key opened, PIN presented), then the log between two marks (byte
// offsets; the spy flushes after every call) holds exactly the calls of N operations.
import { execFileSync } from 'node:child_process';
import { constants, createHash, publicEncrypt } from 'node:crypto';
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { NCRYPT_PAD_PKCS1_FLAG, NCRYPT_SILENT_FLAG } from '../ksp/constants.js';
import { NCryptDecrypt, NCryptEncrypt } from '../ksp/encryption.js';
import { NCryptOpenKey } from '../ksp/keys.js';
import { NCryptFreeObject } from '../ksp/provider.js';
import { NCryptSignHash } from '../ksp/signing.js';
import { type CardModule, ENTRY_POINT_VERSIONS } from '../minidriver/card-module.js';
import { AT_ECDSA_P256, AT_KEYEXCHANGE, CALG_SHA_256 } from '../minidriver/constants.js';
import { Pkcs11Minidriver } from '../pkcs11-bridge/driver.js';
import { pk } from '../pkcs11-bridge/pkcs11.js';
import { installBenchService, removeBenchService } from './bench-service.js';
import { CapiSide } from './capi-side.js';
import { CNG_RSA_NAME, CngSide } from './cng-side.js';
import { RawSide } from './raw-side.js';
import { PKCS11_SPY_MODULE, SOFTHSM2_MODULE } from './softhsm-store.js';

export const SPY_CHILD_FLAG = '--spy-child';
export const SPY_OPS = 10;

export interface CallCount {
  ops: number;
  calls: number;
  perOp: number;
  /** Function name → number of calls in the measured window. */
  functions: Record<string, number>;
  /** Minidriver entry point → calls in the window, where the card's entry points were counted too. */
  card?: Record<string, number>;
}

export interface SpyResult {
  /** CardSignData through the bridge (the minidriver contract). */
  rsa: CallCount;
  ecdsa: CallCount;
  /** The same window for raw pkcs11js C_SignInit + C_Sign (the floor, through the same spy). */
  rawRsa: CallCount;
  /** The CNG front end, warm: key open, PIN cached. */
  cng: {
    signRsa: CallCount;
    signEcdsa: CallCount;
    decryptRsa: CallCount;
    /** NCryptOpenKey of a known name on a warm cache (and NCryptFreeObject, which is host-only). */
    openKey: CallCount;
  };
  /** The CryptoAPI front end, warm: context acquired, exchange key got, PIN cached. */
  capi: {
    /** CryptCreateHash + CryptSetHashParam(HP_HASHVAL) + CryptSignHash(AT_KEYEXCHANGE) + CryptDestroyHash. */
    signRsa: CallCount;
    /** CryptDecrypt, PKCS#1 v1.5, with the AT_KEYEXCHANGE key. */
    decryptRsa: CallCount;
  };
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

export function countCalls(segment: string, ops: number): CallCount {
  const functions: Record<string, number> = {};
  let calls = 0;
  for (const m of segment.matchAll(CALL_LINE)) {
    calls++;
    functions[m[1]] = (functions[m[1]] ?? 0) + 1;
  }
  return { ops, calls, perOp: calls / ops, functions };
}

/** Runs `action` with every minidriver entry point of `card` counting its calls (and passing them on). */
async function countingEntryPoints(card: CardModule, action: () => Promise<void>): Promise<Record<string, number>> {
  const methods = card as unknown as Record<string, (...args: unknown[]) => unknown>;
  const counts: Record<string, number> = {};
  const saved = Object.keys(ENTRY_POINT_VERSIONS).map((name) => [name, Object.getOwnPropertyDescriptor(methods, name)] as const);
  for (const [name] of saved) {
    const original = methods[name]!;
    methods[name] = function (this: unknown, ...args: unknown[]) {
      counts[name] = (counts[name] ?? 0) + 1;
      return original.apply(this, args);
    };
  }
  try {
    await action();
  } finally {
    for (const [name, descriptor] of saved) {
      if (descriptor) Object.defineProperty(methods, name, descriptor);
      else delete methods[name];
    }
  }
  return counts;
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
  let cngSide: CngSide | undefined;
  let capiSide: CapiSide | undefined;
  try {
    const card = await driver.openCard({ label });
    await card.CardAuthenticatePin('user', Buffer.from(pin));
    const hash = createHash('sha256').update('spy').digest();
    const rsaInfo = () => ({ dwVersion: 2, bContainerIndex: 0, dwKeySpec: AT_KEYEXCHANGE, dwSigningFlags: 0, aiHashAlg: CALG_SHA_256, pbData: hash });
    const ecInfo = () => ({ dwVersion: 2, bContainerIndex: 1, dwKeySpec: AT_ECDSA_P256, dwSigningFlags: 0, aiHashAlg: 0, pbData: hash });

    const window = async (op: () => Promise<unknown> | unknown, cardModule?: CardModule): Promise<CallCount> => {
      await op(); // warm-up: opens the key (lookup, dispatcher estimate), presents a pending PIN
      const from = mark();
      const run = async (): Promise<void> => { for (let i = 0; i < SPY_OPS; i++) await op(); };
      const card = cardModule ? await countingEntryPoints(cardModule, run) : (await run(), undefined);
      return { ...countCalls(readSegment(log, from, mark()), SPY_OPS), ...(card ? { card } : {}) };
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

    // The CNG front end over the same spy: keys the parent made with NCryptCreatePersistedKey, opened
    // by name here; the provider's PIN (NCRYPT_PIN_PROPERTY) is presented by the first warm-up.
    await installBenchService(PKCS11_SPY_MODULE);
    cngSide = await CngSide.open(pin, false);
    const cng = cngSide;
    const signRsa = await window(() => NCryptSignHash(cng.rsa, { pszAlgId: 'SHA256' }, hash, NCRYPT_PAD_PKCS1_FLAG));
    const signEcdsa = await window(() => NCryptSignHash(cng.ec, null, hash));
    const ciphertext = await NCryptEncrypt(cng.rsa, Buffer.from('p11-ksp spy'), null, NCRYPT_PAD_PKCS1_FLAG); // host-side, public key
    const decryptRsa = await window(() => NCryptDecrypt(cng.rsa, ciphertext, null, NCRYPT_PAD_PKCS1_FLAG));
    const rsaState = cng.rsa.state;
    const cngCard = rsaState.kind === 'persisted' ? rsaState.card.module : undefined;
    const openKey = await window(async () => NCryptFreeObject(await NCryptOpenKey(cng.prov, CNG_RSA_NAME, 0, NCRYPT_SILENT_FLAG)), cngCard);

    // The CryptoAPI front end over the same service: the container the parent made with
    // CRYPT_NEWKEYSET + CryptGenKey, acquired by name, PP_KEYEXCHANGE_PIN set, CryptGetUserKey.
    capiSide = await CapiSide.open(label, pin, false);
    const capi = capiSide;
    const capiSign = await window(() => capi.sign(hash));
    const capiCiphertext = publicEncrypt({ key: capi.cardKey.publicKey, padding: constants.RSA_PKCS1_PADDING }, Buffer.from('p11-ksp spy')).reverse();
    const capiDecrypt = await window(() => capi.decrypt(capiCiphertext));

    const result: SpyResult = {
      rsa, ecdsa, rawRsa, cng: { signRsa, signEcdsa, decryptRsa, openKey }, capi: { signRsa: capiSign, decryptRsa: capiDecrypt }, logBytes: mark(),
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    await capiSide?.close();
    await cngSide?.close();
    await removeBenchService();
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
