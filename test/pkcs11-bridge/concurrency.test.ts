import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import crypto, { type KeyObject, randomBytes } from 'node:crypto';
import type { CardModule } from '../../minidriver/card-module.js';
import { CryptError } from '../../minidriver/errors.js';
import type { Pkcs11Minidriver } from '../../pkcs11-bridge/index.js';
import {
  assertNoSessionCheckedOut, digest, graphenePublicKey, makeToken, newDriver, openContext, pin, poolState, readCmap, reversed,
  verifyEcdsa, verifyRsaPkcs1,
} from './helpers.js';

const token = makeToken('br-concurrency');

const RSA_KX = 0;
const EC = 1;
const RSA_SIG = 2;

describe('pkcs11-bridge: concurrent operations on one token', () => {
  let driver: Pkcs11Minidriver;
  let ctx: CardModule;
  let rsaKx: KeyObject;
  let rsaSig: KeyObject;
  let ec: KeyObject;

  const rsaSign = (index: number, message: Buffer, c: CardModule = ctx) => c.CardSignData({
    dwVersion: 2, bContainerIndex: index, dwKeySpec: index === RSA_KX ? 1 : 2, dwSigningFlags: 0, aiHashAlg: 0x800c, pbData: digest('sha256', message),
  });
  const ecSign = (message: Buffer, c: CardModule = ctx) => c.CardSignData({
    dwVersion: 2, bContainerIndex: EC, dwKeySpec: 3, dwSigningFlags: 0, aiHashAlg: 0, pbData: digest('sha256', message),
  });

  /** Awaits all, and reports every rejection (CKR_OPERATION_ACTIVE would show here) instead of the first. */
  const settleAll = async <T>(work: Promise<T>[]): Promise<T[]> => {
    const results = await Promise.allSettled(work);
    const failures = results.flatMap((r, i) => (r.status === 'rejected' ? [`#${i}: ${r.reason instanceof CryptError ? `${r.reason.codeName} ${r.reason.nativeName ?? ''} ${r.reason.message}` : String(r.reason)}`] : []));
    assert.deepEqual(failures, [], 'every concurrent operation succeeds');
    return results.map((r) => (r as PromiseFulfilledResult<T>).value);
  };

  before(async function () {
    this.timeout(60_000);
    driver = newDriver();
    ctx = await openContext(driver, token.label);
    await ctx.CardAuthenticatePin('user', pin(token.pin));
    await ctx.CardCreateContainer(RSA_KX, 1, 1, 2048);
    await ctx.CardCreateContainer(EC, 1, 3, 256);
    await ctx.CardCreateContainer(RSA_SIG, 1, 2, 2048);
    const names = (await readCmap(ctx)).map((r) => r?.name ?? '');
    rsaKx = graphenePublicKey(token.label, names[RSA_KX]!, 'RSA');
    rsaSig = graphenePublicKey(token.label, names[RSA_SIG]!, 'RSA');
    ec = graphenePublicKey(token.label, names[EC]!, 'EC', 256);
  });

  after(async () => {
    await ctx.CardDeleteContext();
    await driver.close();
  });

  for (let round = 1; round <= 3; round++) {
    it(`16 concurrent RSA-2048 CardSignData all verify (round ${round}: the dispatcher has ${round === 1 ? 'no' : 'a'} latency estimate)`, async () => {
      const messages = Array.from({ length: 16 }, () => randomBytes(40));
      const signatures = await settleAll(messages.map((m) => rsaSign(RSA_KX, m)));
      signatures.forEach((s, i) => assert.ok(verifyRsaPkcs1(rsaKx, 'sha256', messages[i]!, s), `signature ${i} verifies`));
      assert.equal(new Set(signatures.map((s) => s.toString('hex'))).size, 16, 'each signature is over its own message');
      assertNoSessionCheckedOut(ctx);
      assert.ok(poolState(ctx).opened <= 8, `the pool stays bounded (${poolState(ctx).opened} sessions)`);
    });
  }

  it('16 concurrent ECDSA P-256 signatures all verify', async () => {
    const messages = Array.from({ length: 16 }, () => randomBytes(40));
    const signatures = await settleAll(messages.map((m) => ecSign(m)));
    signatures.forEach((s, i) => assert.ok(verifyEcdsa(ec, 'sha256', messages[i]!, s), `signature ${i} verifies`));
    assertNoSessionCheckedOut(ctx);
  });

  it('64 mixed operations at once — RSA signs on two keys, ECDSA, RSA decrypts, file reads — all correct', async function () {
    this.timeout(60_000);
    const work: Promise<() => void>[] = [];
    for (let i = 0; i < 16; i++) {
      const m = randomBytes(30);
      const index = i % 2 === 0 ? RSA_KX : RSA_SIG;
      work.push(rsaSign(index, m).then((s) => () => assert.ok(verifyRsaPkcs1(index === RSA_KX ? rsaKx : rsaSig, 'sha256', m, s), `RSA ${i}`)));
      const e = randomBytes(30);
      work.push(ecSign(e).then((s) => () => assert.ok(verifyEcdsa(ec, 'sha256', e, s), `EC ${i}`)));
      const secret = randomBytes(24);
      const ciphertext = crypto.publicEncrypt({ key: rsaKx, padding: crypto.constants.RSA_PKCS1_PADDING }, secret);
      work.push(ctx.CardRSADecrypt({ dwVersion: 2, bContainerIndex: RSA_KX, dwKeySpec: 1, pbData: reversed(ciphertext), dwPaddingType: 2 })
        .then((p) => () => assert.deepEqual(p, secret, `decrypt ${i}`)));
      work.push(ctx.CardReadFile(null, 'cardid').then((b) => () => assert.equal(b.length, 16)));
    }
    for (const check of await settleAll(work)) check();
    assertNoSessionCheckedOut(ctx);
  });

  it('two contexts of one driver signing concurrently', async () => {
    const second = await openContext(driver, token.label);
    try {
      const messages = Array.from({ length: 16 }, () => randomBytes(16));
      const signatures = await settleAll(messages.map((m, i) => rsaSign(RSA_KX, m, i % 2 ? second : ctx)));
      signatures.forEach((s, i) => assert.ok(verifyRsaPkcs1(rsaKx, 'sha256', messages[i]!, s)));
    } finally {
      await second.CardDeleteContext();
    }
  });

  it('concurrent failures (no PIN) all reject with SCARD_W_SECURITY_VIOLATION and return their sessions', async () => {
    await ctx.CardDeauthenticate('user');
    try {
      const results = await Promise.allSettled(Array.from({ length: 12 }, (_, i) => (i % 2 ? ecSign(randomBytes(8)) : rsaSign(RSA_KX, randomBytes(8)))));
      for (const r of results) {
        assert.equal(r.status, 'rejected');
        assert.ok(r.status === 'rejected' && r.reason instanceof CryptError && r.reason.codeName === 'SCARD_W_SECURITY_VIOLATION', String((r as PromiseRejectedResult).reason));
      }
      assertNoSessionCheckedOut(ctx);
    } finally {
      await ctx.CardAuthenticatePin('user', pin(token.pin));
    }
    const m = randomBytes(8);
    assert.ok(verifyRsaPkcs1(rsaKx, 'sha256', m, await rsaSign(RSA_KX, m)), 'signs again afterwards');
  });

  /** Runs fixtures/concurrent-create.js in a child (its own SoftHSM2 store) and checks its report. */
  const concurrentCreate = (workers: number, perWorker: number, readers: number) => {
    const fixture = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'concurrent-create.js');
    // The child makes its own SoftHSM2 store, under a temp dir of ours: a crashed child cannot remove it.
    const scratch = mkdtempSync(join(tmpdir(), 'p11ksp-concurrent-'));
    const env: NodeJS.ProcessEnv = { ...process.env, TMPDIR: scratch };
    delete env.SOFTHSM2_CONF;
    let child;
    try {
      child = spawnSync(process.execPath, [fixture, String(workers), String(perWorker), String(readers)], { env, encoding: 'utf8', timeout: 110_000 });
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
    assert.equal(child.signal, null, `the child process died of ${child.signal}; stderr: ${child.stderr.slice(-500)}`);
    assert.equal(child.status, 0, `exit ${child.status}; stderr: ${child.stderr.slice(-500)}`);
    const report = JSON.parse(child.stdout.trim().split('\n').pop()!) as { failures: string[]; valid: number; distinct: number; keyObjects: number; expected: number };
    assert.deepEqual(report.failures, [], 'every call succeeds');
    assert.equal(report.valid, report.expected, `the cmapfile has exactly the ${report.expected} containers made (no phantom records)`);
    assert.equal(report.distinct, report.valid, 'container names are unique');
    assert.equal(report.keyObjects, 2 * report.expected, 'one key pair per container, none lost');
  };

  // Run in a child: when token objects are enumerated while others are being created on worker threads,
  // SoftHSM2 can fail calls, expose half-made objects, or crash the process (SIGSEGV).
  it('8 workers each creating 6 containers one after another (8 always in flight) all succeed (child process)', function () {
    this.timeout(120_000);
    concurrentCreate(8, 6, 0);
  });

  it('one container created at a time (24 in a row) while two other contexts keep reading the cmapfile and container info (child process)', function () {
    this.timeout(120_000);
    concurrentCreate(1, 24, 2);
  });

  it('8 creating workers while two other contexts keep reading the cmapfile and container info (child process)', function () {
    this.timeout(120_000);
    concurrentCreate(8, 6, 2);
  });
});
