// Benchmark: the minidriver bridge's CardSignData, the CNG front end (NCryptSignHash, NCryptDecrypt)
// and the CryptoAPI front end (CryptSignHash, CryptDecrypt) against raw pkcs11js on SoftHSM2, in one run.
//
//   npm run bench            (= npm run build && node dist/bench/run.js)
//   node dist/bench/run.js [--quick] [--rounds=N]
//
// Makes a private SoftHSM2 store, two containers through the bridge (RSA-2048 AT_KEYEXCHANGE, ECDSA
// P-256), two keys through CNG (NCryptCreatePersistedKey + NCryptFinalizeKey via the smart card
// service) and a container through CryptoAPI (CRYPT_NEWKEYSET + CryptGenKey(AT_KEYEXCHANGE), same
// service), then measures single-stream throughput (raw sync vs bridge, raw sync vs warm NCrypt* and
// Crypt*, interleaved rounds), several RSA signatures in flight, token calls per operation
// (pkcs11-spy, child process) and memory over 20,000 ECDSA signatures. Writes
// bench/results/latest.{json,md} and prints the markdown. Exits 0 when goals are missed (the numbers
// are the product), 1 only when a section could not run.
import { constants, createHash, publicEncrypt } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, platform, release, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { NCRYPT_PAD_PKCS1_FLAG } from '../ksp/constants.js';
import { NCryptDecrypt, NCryptEncrypt } from '../ksp/encryption.js';
import type { NCryptKeyHandle } from '../ksp/handles.js';
import { NCryptSignHash, NCryptVerifySignature } from '../ksp/signing.js';
import {
  AT_ECDSA_P256, AT_KEYEXCHANGE, CALG_SHA_256, CARD_CREATE_CONTAINER_KEY_GEN, CARD_PADDING_INFO_PRESENT, CARD_PADDING_PKCS1,
} from '../minidriver/constants.js';
import type { CardModule } from '../minidriver/card-module.js';
import { decodeCmapFile } from '../minidriver/codecs/index.js';
import { DEFAULT_DISPATCH_POLICY } from '../pkcs11-bridge/dispatch.js';
import { Pkcs11Minidriver } from '../pkcs11-bridge/driver.js';
import { pk, type Pkcs11Handle } from '../pkcs11-bridge/pkcs11.js';
import type { Token } from '../pkcs11-bridge/token.js';
import {
  collect, gcAvailable, inFlightBlock, interleave, median, sequentialBlock, syncBlock,
} from './measure.js';
import { installBenchService, removeBenchService } from './bench-service.js';
import { CAPI_CONTAINER, CapiSide } from './capi-side.js';
import { type CaseResult, callCase, caseFrom, round } from './cases.js';
import { CNG_EC_NAME, CNG_RSA_NAME, CngSide } from './cng-side.js';
import { measureFrontEnd } from './front-end-row.js';
import { RawSide } from './raw-side.js';
import { createStore, SOFTHSM2_MODULE, softhsmVersion } from './softhsm-store.js';
import { type CallCount, runSpyChild, SPY_CHILD_FLAG, spyChildMain, type SpyResult } from './spy-child.js';

const SCRIPT = fileURLToPath(import.meta.url);
const REPO = resolve(dirname(SCRIPT), '..', '..'); // dist/bench/run.js → repository root
const RESULTS = join(REPO, 'bench', 'results');
const QUICK = process.argv.includes('--quick');

const ROUNDS_ARG = process.argv.find((a) => a.startsWith('--rounds='));
// Short blocks, many rounds: this kind of 2-core VM drifts by ±20% within seconds, so each round is
// kept to tens of milliseconds per side and the ratio is a median over many rounds.
const CONFIG = QUICK
  ? { rounds: 9, flightRounds: 5, rsaN: 40, ecN: 500, rsaWarmup: 40, ecWarmup: 1_000, flightN: 100, inFlight: [4, 8], memoryOps: 2_000 }
  : { rounds: 101, flightRounds: 41, rsaN: 60, ecN: 1_000, rsaWarmup: 200, ecWarmup: 5_000, flightN: 200, inFlight: [4, 8], memoryOps: 20_000 };
if (ROUNDS_ARG) CONFIG.rounds = CONFIG.flightRounds = Math.max(1, Number(ROUNDS_ARG.slice('--rounds='.length)) | 0);

const GOAL_SINGLE = 0.95;
const GOAL_IN_FLIGHT = 1.4;
/** Token calls of a warm signature or decryption: the two PKCS#11 cannot avoid (design decision 4). */
const GOAL_CALLS = 2;
/** Token calls of NCryptOpenKey of a known name on a warm cache: at most the handle check. */
const GOAL_OPEN_CALLS = 1;

const SHA256_DIGEST_INFO = Buffer.from('3031300d060960864801650304020105000420', 'hex');

interface MemorySample { label: string; rss: number; heapUsed: number; heapTotal: number; external: number; arrayBuffers: number }

const log = (msg: string): void => { process.stderr.write(`[bench] ${msg}\n`); };

/** Aggregate CPU ticks from /proc/stat (Linux): total and steal, to show how much the host took. */
function cpuTicks(): { total: number; steal: number } | undefined {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    return { total: f.reduce((a, b) => a + b, 0), steal: f[7] ?? 0 };
  } catch {
    return undefined;
  }
}

function memorySample(label: string): MemorySample {
  const m = process.memoryUsage();
  return { label, rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers };
}

function tokenOf(card: CardModule): Token | undefined {
  return (card as unknown as { token?: Token }).token;
}

/** The card, container index and key spec behind a CNG key handle (for the CardSignData side). */
function cardKeyOf(handle: NCryptKeyHandle): { module: CardModule; index: number; keySpec: number } {
  const state = handle.state;
  if (state.kind !== 'persisted') throw new Error('the CNG key is not on the card');
  return { module: state.card.module, index: state.container.index, keySpec: state.keySpec };
}

async function main(): Promise<number> {
  const started = performance.now();
  const ticksAtStart = cpuTicks();
  const errors: string[] = [];
  const cases: CaseResult[] = [];
  let spy: SpyResult | undefined;
  let memory: { ops: number; samples: MemorySample[]; maxRssKiB: number } | undefined;
  const diagnostics: Record<string, unknown> = {};

  log(`SoftHSM2 store… (${QUICK ? 'quick' : 'full'} run)`);
  const store = createStore('bench');
  const driver = new Pkcs11Minidriver({ modulePath: SOFTHSM2_MODULE });
  let raw: RawSide | undefined;
  let cng: CngSide | undefined;
  let capi: CapiSide | undefined;
  try {
    // ---- setup: card, login, containers (through the bridge) -------------------------------------
    const card = await driver.openCard({ label: store.label });
    await card.CardAuthenticatePin('user', Buffer.from(store.pin));
    log('creating RSA-2048 AT_KEYEXCHANGE (index 0) and ECDSA P-256 (index 1) containers…');
    await card.CardCreateContainer(0, CARD_CREATE_CONTAINER_KEY_GEN, AT_KEYEXCHANGE, 2048);
    await card.CardCreateContainer(1, CARD_CREATE_CONTAINER_KEY_GEN, AT_ECDSA_P256, 256);
    const cmap = decodeCmapFile(await card.CardReadFile('mscp', 'cmapfile'));
    const rsaName = cmap[0]?.wszGuid;
    const ecName = cmap[1]?.wszGuid;
    if (!rsaName || !ecName) throw new Error('the cmapfile does not name containers 0 and 1');

    // ---- the front ends: a smart card service on the same store, keys made through NCrypt*, Crypt* --
    // Before the raw side looks up its key handles: presenting the PIN logs the application out and in
    // again (the bridge verifies a PIN every time it is presented), which voids private-key handles.
    await installBenchService(SOFTHSM2_MODULE);
    log(`CNG: smart card service on the store; "${CNG_RSA_NAME}" (RSA-2048) and "${CNG_EC_NAME}" (ECDSA P-256) through NCryptCreatePersistedKey + NCryptFinalizeKey…`);
    cng = await CngSide.open(store.pin, true);
    log(`CryptoAPI: "${CAPI_CONTAINER}" through CRYPT_NEWKEYSET (PIN as PP_KEYEXCHANGE_PIN) + CryptGenKey(AT_KEYEXCHANGE, RSA-2048)…`);
    capi = await CapiSide.open(store.label, store.pin, true);

    // ---- the raw side: same module instance, own session, same keys by label -------------------
    raw = new RawSide(SOFTHSM2_MODULE, store.label, store.pin);
    const r = raw;
    const p = r.pkcs11;
    const rsaKey = r.findByLabel(pk.CKO_PRIVATE_KEY, rsaName);
    const ecKey = r.findByLabel(pk.CKO_PRIVATE_KEY, ecName);
    const rsaPub = r.findByLabel(pk.CKO_PUBLIC_KEY, rsaName);
    const ecPub = r.findByLabel(pk.CKO_PUBLIC_KEY, ecName);
    if (!r.id(rsaKey).equals(r.id(rsaPub)) || !r.id(ecKey).equals(r.id(ecPub))) throw new Error('private and public keys do not share CKA_ID');

    const cngRsaKey = r.findByLabel(pk.CKO_PRIVATE_KEY, CNG_RSA_NAME);
    const cngEcKey = r.findByLabel(pk.CKO_PRIVATE_KEY, CNG_EC_NAME);
    const cngEcPub = r.findByLabel(pk.CKO_PUBLIC_KEY, CNG_EC_NAME);

    const hash = createHash('sha256').update('p11-ksp bench').digest();
    const rsaInput = Buffer.concat([SHA256_DIGEST_INFO, hash]); // what the bridge hands the token
    const RSA_MECH = { mechanism: pk.CKM_RSA_PKCS };
    const EC_MECH = { mechanism: pk.CKM_ECDSA };
    const rsaSync = (s: Pkcs11Handle = r.session): Buffer => { p.C_SignInit(s, RSA_MECH, rsaKey); return p.C_Sign(s, rsaInput, Buffer.allocUnsafe(256)); };
    const ecSync = (): Buffer => { p.C_SignInit(r.session, EC_MECH, ecKey); return p.C_Sign(r.session, hash, Buffer.allocUnsafe(64)); };
    const rsaAsync = (s: Pkcs11Handle): Promise<Buffer> => { p.C_SignInit(s, RSA_MECH, rsaKey); return p.C_SignAsync(s, rsaInput, Buffer.allocUnsafe(256)); };
    const bridgeRsa = (): Promise<Buffer> => card.CardSignData({ dwVersion: 2, bContainerIndex: 0, dwKeySpec: AT_KEYEXCHANGE, dwSigningFlags: 0, aiHashAlg: CALG_SHA_256, pbData: hash });
    const bridgeEc = (): Promise<Buffer> => card.CardSignData({ dwVersion: 2, bContainerIndex: 1, dwKeySpec: AT_ECDSA_P256, dwSigningFlags: 0, aiHashAlg: 0, pbData: hash });

    // ---- sanity: same key, same bytes ------------------------------------------------------------
    const rawRsaSig = rsaSync();
    const bridgeRsaSig = Buffer.from(await bridgeRsa()).reverse(); // the bridge answers little-endian
    if (!rawRsaSig.equals(bridgeRsaSig)) throw new Error('RSA: the bridge and raw pkcs11js signatures differ (not the same key or input)');
    if (!r.verify(RSA_MECH, rsaPub, rsaInput, rawRsaSig)) throw new Error('RSA: raw signature does not verify');
    const bridgeEcSig = await bridgeEc();
    if (bridgeEcSig.length !== 64 || !r.verify(EC_MECH, ecPub, hash, bridgeEcSig)) throw new Error('ECDSA: the bridge signature does not verify with the raw side\'s public key');
    if (!r.verify(EC_MECH, ecPub, hash, ecSync())) throw new Error('ECDSA: raw signature does not verify');
    log('sanity: bridge and raw sign with the same keys (RSA signatures identical, ECDSA verifies)');

    // The CNG operations, as an application writes them (padding info a constant), the bridge call
    // each one makes (same key, same arguments: the front end's own cost), and raw pkcs11js.
    const c = cng;
    const PKCS1_SHA256 = { pszAlgId: 'SHA256' };
    const cngRsaCard = cardKeyOf(c.rsa);
    const cngEcCard = cardKeyOf(c.ec);
    const ncryptRsa = (): Promise<Buffer> => NCryptSignHash(c.rsa, PKCS1_SHA256, hash, NCRYPT_PAD_PKCS1_FLAG);
    const ncryptEc = (): Promise<Buffer> => NCryptSignHash(c.ec, null, hash);
    const cardCngRsa = (): Promise<Buffer> => cngRsaCard.module.CardSignData({
      dwVersion: 2, bContainerIndex: cngRsaCard.index, dwKeySpec: cngRsaCard.keySpec, dwSigningFlags: CARD_PADDING_INFO_PRESENT,
      aiHashAlg: 0, dwPaddingType: CARD_PADDING_PKCS1, pPaddingInfo: PKCS1_SHA256, pbData: hash,
    });
    const cardCngEc = (): Promise<Buffer> => cngEcCard.module.CardSignData({ dwVersion: 2, bContainerIndex: cngEcCard.index, dwKeySpec: cngEcCard.keySpec, dwSigningFlags: 0, aiHashAlg: 0, pbData: hash });
    const rawCngRsa = (): Buffer => { p.C_SignInit(r.session, RSA_MECH, cngRsaKey); return p.C_Sign(r.session, rsaInput, Buffer.allocUnsafe(256)); };
    const rawCngEc = (): Buffer => { p.C_SignInit(r.session, EC_MECH, cngEcKey); return p.C_Sign(r.session, hash, Buffer.allocUnsafe(64)); };
    const plaintext = Buffer.from('p11-ksp bench: a session key, say');
    const ciphertext = await NCryptEncrypt(c.rsa, plaintext, null, NCRYPT_PAD_PKCS1_FLAG); // public key, host-side
    const ciphertextLe = Buffer.from(ciphertext).reverse(); // the minidriver's byte order
    const ncryptDecrypt = (): Promise<Buffer> => NCryptDecrypt(c.rsa, ciphertext, null, NCRYPT_PAD_PKCS1_FLAG);
    const cardDecrypt = (): Promise<Buffer> => cngRsaCard.module.CardRSADecrypt({
      dwVersion: 2, bContainerIndex: cngRsaCard.index, dwKeySpec: cngRsaCard.keySpec, pbData: ciphertextLe, dwPaddingType: CARD_PADDING_PKCS1, pPaddingInfo: null,
    });
    const rawDecrypt = (): Buffer => { p.C_DecryptInit(r.session, RSA_MECH, cngRsaKey); return p.C_Decrypt(r.session, ciphertext, Buffer.allocUnsafe(256)); };

    if (!(await ncryptRsa()).equals(rawCngRsa())) throw new Error('CNG RSA: NCryptSignHash and raw pkcs11js signatures differ (not the same key or input)');
    await NCryptVerifySignature(c.rsa, PKCS1_SHA256, hash, rawCngRsa(), NCRYPT_PAD_PKCS1_FLAG);
    const ncryptEcSig = await ncryptEc();
    if (!r.verify(EC_MECH, cngEcPub, hash, ncryptEcSig)) throw new Error('CNG ECDSA: the NCryptSignHash signature does not verify with the raw side\'s public key');
    await NCryptVerifySignature(c.ec, null, hash, rawCngEc());
    if (!(await ncryptDecrypt()).equals(plaintext) || !rawDecrypt().equals(plaintext) || !(await cardDecrypt()).equals(plaintext)) throw new Error('CNG RSA: NCryptDecrypt, CardRSADecrypt and raw C_Decrypt do not all give the plaintext back');
    log('sanity: NCryptSignHash / NCryptDecrypt and raw pkcs11js use the same CNG-made keys (RSA signatures identical, ECDSA verifies both ways, decryptions agree)');

    // The CryptoAPI operations (a hash object per signature, its value set with HP_HASHVAL), the
    // bridge call each makes, and raw pkcs11js on the CryptoAPI-made key. The ciphertext is made by
    // node:crypto from the public key as the token holds it (not by the code under test), reversed to
    // CryptoAPI's little-endian order.
    const a = capi;
    const capiCard = a.cardKey;
    const capiKey = r.findByLabel(pk.CKO_PRIVATE_KEY, CAPI_CONTAINER);
    const capiPub = r.findByLabel(pk.CKO_PUBLIC_KEY, CAPI_CONTAINER);
    const capiSign = (): Promise<Buffer> => a.sign(hash);
    const cardCapiRsa = (): Promise<Buffer> => capiCard.card.module.CardSignData({
      dwVersion: 2, bContainerIndex: capiCard.container.index, dwKeySpec: capiCard.keySpec, dwSigningFlags: 0, aiHashAlg: CALG_SHA_256, pbData: hash,
    });
    const rawCapiRsa = (): Buffer => { p.C_SignInit(r.session, RSA_MECH, capiKey); return p.C_Sign(r.session, rsaInput, Buffer.allocUnsafe(256)); };
    const capiCiphertext = publicEncrypt({ key: r.rsaPublicKey(capiPub), padding: constants.RSA_PKCS1_PADDING }, plaintext);
    const capiCiphertextLe = Buffer.from(capiCiphertext).reverse();
    const capiDecrypt = (): Promise<Buffer> => a.decrypt(capiCiphertextLe);
    const cardCapiDecrypt = (): Promise<Buffer> => capiCard.card.module.CardRSADecrypt({
      dwVersion: 2, bContainerIndex: capiCard.container.index, dwKeySpec: capiCard.keySpec, pbData: capiCiphertextLe, dwPaddingType: CARD_PADDING_PKCS1, pPaddingInfo: null,
    });
    const rawCapiDecrypt = (): Buffer => { p.C_DecryptInit(r.session, RSA_MECH, capiKey); return p.C_Decrypt(r.session, capiCiphertext, Buffer.allocUnsafe(256)); };

    if (!Buffer.from(await capiSign()).reverse().equals(rawCapiRsa())) throw new Error('CryptoAPI RSA: CryptSignHash (reversed) and raw pkcs11js signatures differ (not the same key or input)');
    if (!r.verify(RSA_MECH, capiPub, rsaInput, Buffer.from(await cardCapiRsa()).reverse())) throw new Error('CryptoAPI RSA: the CardSignData signature on the CryptoAPI key does not verify');
    if (!(await capiDecrypt()).equals(plaintext) || !rawCapiDecrypt().equals(plaintext) || !(await cardCapiDecrypt()).equals(plaintext)) throw new Error('CryptoAPI RSA: CryptDecrypt, CardRSADecrypt and raw C_Decrypt do not all give the node:crypto plaintext back');
    log('sanity: CryptSignHash / CryptDecrypt and raw pkcs11js use the same CryptoAPI-made key (signatures identical once reversed, node:crypto ciphertext decrypts on all three)');

    // ---- 3. single stream ------------------------------------------------------------------------
    try {
      log(`RSA-2048 single stream: ${CONFIG.rounds} rounds × ${CONFIG.rsaN} ops per side…`);
      const rsa = await interleave({
        raw: syncBlock(() => rsaSync()),
        bridge: sequentialBlock(bridgeRsa),
        rawAwait: sequentialBlock(async () => rsaSync()),
      }, CONFIG.rsaN, CONFIG.rounds, CONFIG.rsaWarmup);
      cases.push(caseFrom('RSA-2048 sign, single stream', 'raw pkcs11js sync', 'await CardSignData, sequential', rsa.opsPerSecond.raw, rsa.opsPerSecond.bridge, GOAL_SINGLE));
      cases.push(caseFrom('RSA-2048 — raw sync inside an awaited async function (context: cost of a Promise API)', 'raw pkcs11js sync', 'await (async () => raw)()', rsa.opsPerSecond.raw, rsa.opsPerSecond.rawAwait, null));
      diagnostics.rsaEstimateAfterSingleMs = tokenOf(card)?.dispatcher.estimate('sign:RSA:2048').ms;
    } catch (err) { errors.push(`RSA single stream: ${(err as Error).stack ?? err}`); }
    try {
      log(`ECDSA P-256 single stream: ${CONFIG.rounds} rounds × ${CONFIG.ecN} ops per side…`);
      const ec = await interleave({
        raw: syncBlock(ecSync),
        bridge: sequentialBlock(bridgeEc),
        rawAwait: sequentialBlock(async () => ecSync()),
      }, CONFIG.ecN, CONFIG.rounds, CONFIG.ecWarmup);
      cases.push(caseFrom('ECDSA P-256 sign, single stream', 'raw pkcs11js sync', 'await CardSignData, sequential', ec.opsPerSecond.raw, ec.opsPerSecond.bridge, GOAL_SINGLE));
      cases.push(caseFrom('ECDSA P-256 — raw sync inside an awaited async function (context: cost of a Promise API)', 'raw pkcs11js sync', 'await (async () => raw)()', ec.opsPerSecond.raw, ec.opsPerSecond.rawAwait, null));
      diagnostics.ecEstimateAfterSingleMs = tokenOf(card)?.dispatcher.estimate('sign:EC:256').ms;
    } catch (err) { errors.push(`ECDSA single stream: ${(err as Error).stack ?? err}`); }

    // ---- 3b. the front ends, warm (key open, PIN cached), single stream -----------------------------
    // One shape for every row (front-end-row.ts): raw sync, the front-end call, and the card call it makes.
    const frontEndRows: [string, Parameters<typeof measureFrontEnd>[0], Parameters<typeof measureFrontEnd>[1]][] = [
      ['NCryptSignHash RSA', { name: 'NCryptSignHash RSA-2048 (PKCS#1, SHA-256) warm', frontOp: 'NCryptSignHash', cardOp: 'CardSignData', n: CONFIG.rsaN, rounds: CONFIG.rounds, warmup: CONFIG.rsaWarmup, goal: GOAL_SINGLE },
        { raw: rawCngRsa, front: ncryptRsa, card: cardCngRsa }],
      ['NCryptSignHash ECDSA', { name: 'NCryptSignHash ECDSA P-256 warm', frontOp: 'NCryptSignHash', cardOp: 'CardSignData', n: CONFIG.ecN, rounds: CONFIG.rounds, warmup: CONFIG.ecWarmup, goal: GOAL_SINGLE },
        { raw: rawCngEc, front: ncryptEc, card: cardCngEc }],
      ['NCryptDecrypt RSA', { name: 'NCryptDecrypt RSA-2048 (PKCS#1 v1.5) warm', frontOp: 'NCryptDecrypt', cardOp: 'CardRSADecrypt', n: CONFIG.rsaN, rounds: CONFIG.rounds, warmup: CONFIG.rsaWarmup, goal: GOAL_SINGLE },
        { raw: rawDecrypt, front: ncryptDecrypt, card: cardDecrypt }],
      ['CryptSignHash RSA', { name: 'CryptSignHash RSA-2048 (AT_KEYEXCHANGE, CALG_SHA_256 via HP_HASHVAL) warm', frontOp: 'CryptSignHash', cardOp: 'CardSignData', n: CONFIG.rsaN, rounds: CONFIG.rounds, warmup: CONFIG.rsaWarmup, goal: GOAL_SINGLE },
        { raw: rawCapiRsa, front: capiSign, card: cardCapiRsa }],
      ['CryptDecrypt RSA', { name: 'CryptDecrypt RSA-2048 (AT_KEYEXCHANGE, PKCS#1 v1.5) warm', frontOp: 'CryptDecrypt', cardOp: 'CardRSADecrypt', n: CONFIG.rsaN, rounds: CONFIG.rounds, warmup: CONFIG.rsaWarmup, goal: GOAL_SINGLE },
        { raw: rawCapiDecrypt, front: capiDecrypt, card: cardCapiDecrypt }],
    ];
    for (const [what, row, sides] of frontEndRows) {
      try {
        cases.push(await measureFrontEnd(row, sides, log));
      } catch (err) { errors.push(`${what}: ${(err as Error).stack ?? err}`); }
    }

    // ---- 4. several in flight (RSA) ----------------------------------------------------------------
    const lanes = Array.from({ length: Math.max(...CONFIG.inFlight) }, () => r.openSession());
    for (const k of CONFIG.inFlight) {
      try {
        log(`RSA-2048, ${k} in flight: ${CONFIG.flightRounds} rounds × ${CONFIG.flightN} ops per side (raw sync, bridge, raw async)…`);
        const res = await interleave({
          rawSync: syncBlock(() => rsaSync()),
          bridge: inFlightBlock(k, () => bridgeRsa()),
          rawAsync: inFlightBlock(k, (lane) => rsaAsync(lanes[lane])),
        }, CONFIG.flightN, CONFIG.flightRounds, CONFIG.rsaWarmup);
        const bridgeCase = caseFrom(`RSA-2048 sign, ${k} in flight`, 'raw pkcs11js sync, single stream', `CardSignData, ${k} outstanding`, res.opsPerSecond.rawSync, res.opsPerSecond.bridge, GOAL_IN_FLIGHT);
        const control = caseFrom(`RSA-2048 sign, ${k} in flight — raw C_SignAsync, ${k} sessions (context)`, 'raw pkcs11js sync, single stream', `raw C_SignAsync, ${k} sessions`, res.opsPerSecond.rawSync, res.opsPerSecond.rawAsync, null);
        const vsAsync = median(res.opsPerSecond.bridge.map((b, i) => b / res.opsPerSecond.rawAsync[i]));
        bridgeCase.note = `bridge / raw async (same K, per-round median): ${vsAsync.toFixed(3)}`;
        // The control: when raw pkcs11js itself cannot reach the goal with K in flight, the machine had no spare core.
        if (control.ratio !== null && control.ratio < GOAL_IN_FLIGHT) bridgeCase.note += '; raw async control also below the goal: no spare core during this section';
        cases.push(bridgeCase, control);
        diagnostics[`rsaEstimateAfter${k}InFlightMs`] = tokenOf(card)?.dispatcher.estimate('sign:RSA:2048').ms;
        diagnostics[`bridgeSessionsAfter${k}InFlight`] = tokenOf(card)?.sessions.sessionCount;
      } catch (err) { errors.push(`RSA ${k} in flight: ${(err as Error).stack ?? err}`); }
    }
    // What one lone bridge RSA signature does right after a burst (the estimate carries queueing time).
    try {
      const t0 = performance.now();
      await bridgeRsa();
      diagnostics.firstSequentialRsaAfterBurstMs = round(performance.now() - t0, 3);
      const trail: string[] = [];
      for (let i = 0; i < 7; i++) {
        trail.push((tokenOf(card)?.dispatcher.estimate('sign:RSA:2048').ms ?? NaN).toFixed(2));
        await bridgeRsa();
      }
      diagnostics.rsaEstimateOverNextLoneSignaturesMs = `${trail.join(' → ')} (> ${DEFAULT_DISPATCH_POLICY.maxInlineMs} ms = pooled, async hop)`;
    } catch { /* diagnostic only */ }

    // ---- 5. token calls per operation (pkcs11-spy, child process) ----------------------------------
    try {
      log('token calls per operation: pkcs11-spy in a child process…');
      spy = runSpyChild(SCRIPT, store.dir, store.label, store.pin, rsaName);
      const sign = ['C_SignInit', 'C_Sign'];
      const floor = spy.rawRsa.perOp;
      cases.push(callCase('Token calls per RSA-2048 signature (CardSignData)', spy.rsa, GOAL_CALLS, sign, floor));
      cases.push(callCase('Token calls per ECDSA P-256 signature (CardSignData)', spy.ecdsa, GOAL_CALLS, sign, floor));
      cases.push(callCase('Token calls per warm NCryptSignHash RSA-2048', spy.cng.signRsa, GOAL_CALLS, sign, floor));
      cases.push(callCase('Token calls per warm NCryptSignHash ECDSA P-256', spy.cng.signEcdsa, GOAL_CALLS, sign, floor));
      cases.push(callCase('Token calls per warm NCryptDecrypt RSA-2048', spy.cng.decryptRsa, GOAL_CALLS, ['C_DecryptInit', 'C_Decrypt'], floor));
      cases.push(callCase('Token calls per warm CryptSignHash RSA-2048', spy.capi.signRsa, GOAL_CALLS, sign, floor));
      cases.push(callCase('Token calls per warm CryptDecrypt RSA-2048', spy.capi.decryptRsa, GOAL_CALLS, ['C_DecryptInit', 'C_Decrypt'], floor));
      const opens = spy.cng.openKey;
      const open = callCase('Token calls per NCryptOpenKey of a known name, warm cache', opens, GOAL_OPEN_CALLS, null);
      const cardCalls = opens.card;
      if (cardCalls) {
        const perOpen = Object.values(cardCalls).reduce((a, b) => a + b, 0) / opens.ops;
        const which = Object.entries(cardCalls).map(([f, n]) => `${f}×${Number((n / opens.ops).toFixed(2))}`).join(', ') || 'none';
        open.note = `minidriver level: ${perOpen} card call${perOpen === 1 ? '' : 's'}/open (${which}: the handle check, whose cardcf counters also vouch for the cached map and key information); that cardcf read asks CKA_LABEL and CKA_VALUE together, into buffers of their known lengths, in one C_GetAttributeValue through the native addon (pkcs11js alone makes two: the lengths, then the values)`;
        cases.push(open, {
          case: 'Card calls per NCryptOpenKey of a known name, warm cache (minidriver entry points)', rawLabel: '—', bridgeLabel: 'p11-ksp',
          rawOpsPerSec: null, bridgeOpsPerSec: null, ratio: null, goal: `≤ ${GOAL_OPEN_CALLS} call/op`, met: perOpen <= GOAL_OPEN_CALLS,
          calls: { perOp: perOpen, functions: which },
          note: 'the one card read an open on a warm cache needs (decision 4: a stale cache is detected by the freshness counters)',
        });
      } else {
        cases.push(open);
      }
    } catch (err) { errors.push(`pkcs11-spy: ${(err as Error).stack ?? err}`); }

    // ---- 6. memory over ECDSA signatures -------------------------------------------------------------
    try {
      log(`memory: ${CONFIG.memoryOps} ECDSA signatures through the bridge…`);
      const samples: MemorySample[] = [];
      collect();
      samples.push(memorySample('before'));
      const half = CONFIG.memoryOps / 2;
      for (let i = 0; i < half; i++) await bridgeEc();
      samples.push(memorySample(`after ${half} (no GC)`));
      collect();
      samples.push(memorySample(`after ${half} (GC)`));
      for (let i = 0; i < half; i++) await bridgeEc();
      samples.push(memorySample(`after ${CONFIG.memoryOps} (no GC)`));
      collect();
      samples.push(memorySample(`after ${CONFIG.memoryOps} (GC)`));
      memory = { ops: CONFIG.memoryOps, samples, maxRssKiB: process.resourceUsage().maxRSS };
    } catch (err) { errors.push(`memory: ${(err as Error).stack ?? err}`); }
  } catch (err) {
    errors.push(`setup: ${(err as Error).stack ?? err}`);
  } finally {
    await capi?.close().catch((err: unknown) => { errors.push(`CryptoAPI close: ${(err as Error).stack ?? err}`); });
    await cng?.close().catch((err: unknown) => { errors.push(`CNG close: ${(err as Error).stack ?? err}`); });
    await removeBenchService().catch((err: unknown) => { errors.push(`service close: ${(err as Error).stack ?? err}`); });
    raw?.close();
    await driver.close();
    store.remove();
  }

  // ---- 7. results ----------------------------------------------------------------------------------
  const elapsedS = round((performance.now() - started) / 1000, 1);
  const ticksAtEnd = cpuTicks();
  const stealPct = ticksAtStart && ticksAtEnd && ticksAtEnd.total > ticksAtStart.total
    ? round((100 * (ticksAtEnd.steal - ticksAtStart.steal)) / (ticksAtEnd.total - ticksAtStart.total), 2) : null;
  const pkcs11jsVersion = (JSON.parse(readFileSync(join(REPO, 'node_modules', 'pkcs11js', 'package.json'), 'utf8')) as { version: string }).version;
  const machine = {
    cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, memoryGiB: round(totalmem() / 2 ** 30, 1),
    os: `${platform()} ${release()}`, node: process.version, pkcs11js: pkcs11jsVersion, softhsm: softhsmVersion(),
    uvThreadpoolSize: process.env.UV_THREADPOOL_SIZE ?? '4 (default)', date: new Date().toISOString(),
    stealPercentDuringRun: stealPct ?? 'n/a', loadAverageAtEnd: loadavg().map((x) => x.toFixed(2)).join(' '),
  };
  const command = ['node dist/bench/run.js', ...process.argv.slice(2)].join(' ');
  const json = { machine, command, config: CONFIG, gcAvailable, elapsedS, cases, spy, memory, diagnostics, errors };
  const md = markdown(json);
  mkdirSync(RESULTS, { recursive: true });
  writeFileSync(join(RESULTS, 'latest.json'), `${JSON.stringify(json, null, 2)}\n`);
  writeFileSync(join(RESULTS, 'latest.md'), md);
  process.stdout.write(md);
  return errors.length ? 1 : 0;
}

// ---- markdown ---------------------------------------------------------------------------------------

const fmt = (x: number | null, digits = 0): string => (x === null ? '—' : x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }));
const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
const signedMib = (bytes: number): string => `${bytes >= 0 ? '+' : '−'}${(Math.abs(bytes) / 2 ** 20).toFixed(2)} MiB`;

function markdown(j: {
  machine: Record<string, string | number>; command: string; config: typeof CONFIG; gcAvailable: boolean; elapsedS: number;
  cases: CaseResult[]; spy?: SpyResult; memory?: { ops: number; samples: MemorySample[]; maxRssKiB: number };
  diagnostics: Record<string, unknown>; errors: string[];
}): string {
  const L: string[] = [];
  const m = j.machine;
  L.push('# p11-ksp bench: minidriver bridge, CNG and CryptoAPI front ends vs raw pkcs11js (SoftHSM2)', '');
  L.push(`- machine: ${m.cpu} × ${m.cores}, ${m.memoryGiB} GiB, ${m.os}`);
  L.push(`- node ${m.node}, pkcs11js ${m.pkcs11js}, SoftHSM ${m.softhsm}, libuv threadpool ${m.uvThreadpoolSize}`);
  L.push(`- date: ${m.date}; run took ${j.elapsedS} s; CPU steal during the run ${m.stealPercentDuringRun}%, load average at end ${m.loadAverageAtEnd}`);
  L.push(`- command: \`${j.command}\``);
  L.push(`- method: interleaved rounds (single stream ${j.config.rounds}, in flight ${j.config.flightRounds}), side order rotated every round, one forced GC per section (none between blocks), warm-up first; ops/s = median of per-round ops/s, ratio = median of per-round ratios (p11-ksp/raw), CI = ~95% interval of that median. Blocks: RSA ${j.config.rsaN}, ECDSA ${j.config.ecN}, in-flight ${j.config.flightN} ops per side.`);
  L.push('');
  const misses = j.cases.filter((c) => c.met === false);
  if (misses.length) L.push(`**GOALS MISSED: ${misses.length}** — ${misses.map((c) => c.case).join('; ')}`, '');
  else if (!j.errors.length) {
    const close = j.cases.filter((c) => c.met === true && c.conclusive === false);
    L.push(close.length ? `All goals met by the median; ${close.length} within noise (CI straddles the goal): ${close.map((c) => c.case).join('; ')}.` : 'All goals met.', '');
  }
  if (j.errors.length) L.push(`**ERRORS: ${j.errors.length} section(s) did not run** (see below)`, '');

  L.push('| case | raw ops/s | p11-ksp ops/s | ratio | goal | met? |', '|---|---:|---:|---:|---|---|');
  for (const c of j.cases) {
    const met = c.met === null ? 'n/a' : `${c.met ? 'yes' : '**NO — MISSED**'}${c.conclusive === false ? ' (CI straddles goal)' : ''}${c.note?.includes('no spare core') ? ' (raw async control also below goal: no spare core)' : ''}`;
    if (c.calls) {
      const per = (n: number): string => `${n} call${n === 1 ? '' : 's'}/op`;
      L.push(`| ${c.case} | ${c.calls.floor !== undefined ? `${per(c.calls.floor)} (raw floor)` : '—'} | ${per(c.calls.perOp)} (${c.calls.functions}) | — | ${c.goal} | ${met} |`);
    } else {
      L.push(`| ${c.case} | ${fmt(c.rawOpsPerSec)} | ${fmt(c.bridgeOpsPerSec)} | ${fmt(c.ratio, 3)} | ${c.goal} | ${met} |`);
    }
  }
  L.push('');
  for (const c of j.cases) if (c.note) L.push(`- ${c.case}: ${c.note}`);
  if (j.cases.some((c) => c.note)) L.push('');
  L.push('Raw = pkcs11js on the same module instance, same key (found by CKA_LABEL), same mechanism and input bytes, C_SignInit + C_Sign (C_DecryptInit + C_Decrypt) with a fresh output buffer per call. The p11-ksp column is the bridge (CardSignData) in the first rows, the CNG front end in the NCrypt* rows (keys made with NCryptCreatePersistedKey + NCryptFinalizeKey through the smart card service, opened, PIN cached, padding info a constant) and the CryptoAPI front end in the Crypt* rows (a container made with CRYPT_NEWKEYSET + CryptGenKey(AT_KEYEXCHANGE) through the same service, the PIN given as PP_KEYEXCHANGE_PIN, acquired silently, key got with CryptGetUserKey; CryptSignHash includes CryptCreateHash + CryptSetHashParam(HP_HASHVAL) + CryptDestroyHash per signature; CryptDecrypt takes a node:crypto PKCS#1 v1.5 ciphertext reversed to little-endian); their notes give the front end\'s own cost against the bridge call it makes on the same key. "In flight" rows compare against raw **sync single stream**; the "(context)" rows put something else than p11-ksp in that column: raw C_SignAsync with K sessions, or the raw sync call inside an awaited async function (what any Promise-returning API costs, the ceiling for an async API).', '');

  L.push('## Spread of the per-round ratios', '', '| case | rounds | median | ~95% CI of median | quartiles | min | max |', '|---|---:|---:|---|---|---:|---:|');
  for (const c of j.cases) {
    if (!c.rounds || !c.ratioCi) continue;
    const q = [...c.rounds.ratio].sort((a, b) => a - b);
    const at = (f: number): string => q[Math.min(q.length - 1, Math.floor(f * (q.length - 1) + 0.5))].toFixed(3);
    L.push(`| ${c.case} | ${q.length} | ${fmt(c.ratio, 3)} | ${c.ratioCi[0].toFixed(3)} – ${c.ratioCi[1].toFixed(3)} | ${at(0.25)} – ${at(0.75)} | ${q[0].toFixed(3)} | ${q[q.length - 1].toFixed(3)} |`);
  }
  L.push('');

  if (j.spy) {
    L.push('## Token calls per operation (pkcs11-spy)', '');
    L.push(`Child process: the bridge and the smart card service of the CNG and CryptoAPI front ends loaded pkcs11-spy.so over SoftHSM2; one warm-up operation (key opened; for CNG the provider's NCRYPT_PIN_PROPERTY presented and cached; for CryptoAPI the context acquired, PP_KEYEXCHANGE_PIN set, CryptGetUserKey), then ${j.spy.rsa.ops} operations between two marks in the log. NCryptOpenKey opens the RSA key by its name and frees the handle (NCryptFreeObject is host-only).`, '');
    L.push('| what | calls | calls/op | functions |', '|---|---:|---:|---|');
    const row = (name: string, c: CallCount): string => `| ${name} | ${c.calls} | ${c.perOp} | ${Object.entries(c.functions).map(([f, n]) => `${f} ×${n}`).join(', ') || 'none'} |`;
    L.push(
      row('bridge CardSignData RSA-2048', j.spy.rsa), row('bridge CardSignData ECDSA P-256', j.spy.ecdsa), row('raw pkcs11js RSA-2048 (floor)', j.spy.rawRsa),
      row('NCryptSignHash RSA-2048 (PKCS#1, SHA-256), warm', j.spy.cng.signRsa), row('NCryptSignHash ECDSA P-256, warm', j.spy.cng.signEcdsa),
      row('NCryptDecrypt RSA-2048 (PKCS#1 v1.5), warm', j.spy.cng.decryptRsa), row('NCryptOpenKey of a known name, warm cache', j.spy.cng.openKey),
      row('CryptSignHash RSA-2048 (AT_KEYEXCHANGE, SHA-256 via HP_HASHVAL), warm', j.spy.capi.signRsa), row('CryptDecrypt RSA-2048 (PKCS#1 v1.5), warm', j.spy.capi.decryptRsa), '',
    );
    const card = j.spy.cng.openKey.card;
    if (card) L.push(`The same ${j.spy.cng.openKey.ops} NCryptOpenKey calls at the minidriver level: ${Object.entries(card).map(([f, n]) => `${f} ×${n}`).join(', ') || 'no card call'}.`, '');
  }

  if (j.memory) {
    const s = j.memory.samples;
    const before = s[0];
    const after = s[s.length - 1];
    const midGc = s.find((x) => x.label.includes('(GC)'))!;
    L.push(`## Memory over ${fmt(j.memory.ops)} ECDSA P-256 signatures through the bridge`, '');
    L.push(`GC forced at the marked points (${j.gcAvailable ? 'gc exposed via v8.setFlagsFromString' : 'gc NOT available: figures include garbage'}).`, '');
    L.push('| sample | RSS | heap used | heap total | external | arrayBuffers |', '|---|---:|---:|---:|---:|---:|');
    for (const x of s) L.push(`| ${x.label} | ${mib(x.rss)} | ${mib(x.heapUsed)} | ${mib(x.heapTotal)} | ${mib(x.external)} | ${mib(x.arrayBuffers)} |`);
    L.push('');
    L.push(`Growth before → after (both after GC): RSS ${signedMib(after.rss - before.rss)}, heap used ${signedMib(after.heapUsed - before.heapUsed)}, external ${signedMib(after.external - before.external)}.`);
    L.push(`Second half only (${fmt(j.memory.ops / 2)} signatures, GC to GC): RSS ${signedMib(after.rss - midGc.rss)}, heap used ${signedMib(after.heapUsed - midGc.heapUsed)} (${((after.heapUsed - midGc.heapUsed) / (j.memory.ops / 2)).toFixed(1)} B/signature). Peak RSS of the process: ${(j.memory.maxRssKiB / 1024).toFixed(1)} MiB.`, '');
  }

  const d = j.diagnostics;
  if (Object.keys(d).length) {
    L.push('## Dispatcher diagnostics', '', '| what | value |', '|---|---|');
    for (const [k, v] of Object.entries(d)) L.push(`| ${k} | ${typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(3) : String(v)} |`);
    L.push('');
  }
  if (j.errors.length) {
    L.push('## Errors', '');
    for (const e of j.errors) L.push('```', e, '```');
    L.push('');
  }
  return `${L.join('\n')}\n`;
}

// ---- entry ------------------------------------------------------------------------------------------

if (process.argv.includes(SPY_CHILD_FLAG)) {
  await spyChildMain();
} else {
  process.exitCode = await main();
}
