// runConformance against SoftHSM2 tokens holding keys another tool made (pkcs11-tool) and a
// certificate: what a user with their own HSM token sees. One token per kind of run, so that the
// destructive run's safety check and the PIN lockout never share a token with the runs that must pass.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AREAS, type RunEvent, type RunResult } from '../../conformance/case.js';
import { runConformance } from '../../conformance/index.js';
import { CryptError } from '../../minidriver/errors.js';
import { Pkcs11Minidriver } from '../../pkcs11-bridge/index.js';
import { decodeCmapFile } from '../../minidriver/codecs/index.js';
import { RegistryStore } from '../../smartcard/registry/index.js';
import { szBASE_CSP_DIR, szCONTAINER_MAP_FILE } from '../../minidriver/constants.js';
import { configurePinCounterShim, createSoftHsm, runPkcs11Tool, SOFTHSM2_MODULE, type SoftHsmToken } from '../rigs/index.js';
import { assertConsistent, failures, giveUserKeys, labelsOf, OWN_PREFIX, tokenSnapshot } from './run-helpers.js';

// Tokens before anything C_Initializes SoftHSM2 in this process (test/rigs/softhsm.ts).
const rig = createSoftHsm({ tokens: [{ label: 'conf-run-main' }, { label: 'conf-run-destructive' }, { label: 'conf-run-lockout' }, { label: 'conf-run-stopped' }] });
const MAIN = rig.token('conf-run-main');
const DESTRUCTIVE = rig.token('conf-run-destructive');
const LOCKOUT = rig.token('conf-run-lockout');
const STOPPED = rig.token('conf-run-stopped');

function tool(token: SoftHsmToken, modulePath = SOFTHSM2_MODULE) {
  return { modulePath, label: token.label, pin: token.pin };
}

/** A pin() callback that counts how often the runner asked. */
function pinSource(token: SoftHsmToken): { pin: () => Promise<Uint8Array>; asked: () => number } {
  let asked = 0;
  return {
    pin: async () => {
      asked++;
      return Buffer.from(token.pin, 'utf8');
    },
    asked: () => asked,
  };
}

async function run(token: SoftHsmToken, more: Partial<Parameters<typeof runConformance>[0]> = {}, modulePath = SOFTHSM2_MODULE): Promise<{ result: RunResult; events: RunEvent[]; asked: number }> {
  const events: RunEvent[] = [];
  const source = pinSource(token);
  const result = await runConformance({
    target: { kind: 'module', module: modulePath, tokenLabel: token.label },
    pin: source.pin,
    onEvent: (e) => events.push(e),
    ...more,
  });
  return { result, events, asked: source.asked() };
}

/** The container names in the token's mscp/cmapfile, read through a driver of our own. */
async function containerNames(token: SoftHsmToken): Promise<string[]> {
  const driver = new Pkcs11Minidriver({ modulePath: SOFTHSM2_MODULE });
  try {
    const md = await driver.openCard({ label: token.label });
    try {
      return decodeCmapFile(await md.CardReadFile(szBASE_CSP_DIR, szCONTAINER_MAP_FILE)).filter((r) => r !== null).map((r) => r!.wszGuid);
    } finally {
      await md.CardDeleteContext();
    }
  } finally {
    await driver.close();
  }
}

describe('conformance runner on SoftHSM2', function () {
  this.timeout(900_000);

  before(async () => {
    for (const token of [MAIN, DESTRUCTIVE, LOCKOUT, STOPPED]) await giveUserKeys(tool(token));
  });

  describe('a full run without --allow-destructive', () => {
    let outcome: { result: RunResult; events: RunEvent[]; asked: number };
    before(async () => {
      outcome = await run(MAIN);
    });

    it('passes every case that runs and reports the matrix consistently', () => {
      const { result, events } = outcome;
      assertConsistent(result, events);
      assert.equal(result.totals.failed, 0, failures(result));
      assert.ok(result.totals.passed > 10, `many cases ran and passed (${result.totals.passed})`);
      assert.deepEqual(result.areas.map((a) => a.id), [...AREAS], 'every area, in AREAS order');
      assert.equal(result.target.label, MAIN.label);
      assert.equal(result.target.serial, MAIN.serial);
      assert.equal(result.target.kind, 'module');
      assert.deepEqual(result.options, { allowDestructive: false, allowPinLockout: false, skip: [] });
    });

    it('probes the token: three containers, one with a certificate, RSA and P-256, mechanisms by name', () => {
      const cap = outcome.result.capabilities;
      assert.equal(cap.readOnly, false);
      assert.equal(cap.existingContainers.length, 3, JSON.stringify(cap.existingContainers));
      assert.equal(cap.existingContainers.filter((c) => c.hasCertificate).length, 1);
      const keys = cap.existingContainers.flatMap((c) => c.keys);
      assert.ok(keys.some((k) => k.algorithm === 'RSA' && k.bits === 2048 && k.keySpec === 1), 'an AT_KEYEXCHANGE RSA-2048 key');
      assert.ok(keys.some((k) => k.algorithm === 'RSA' && k.bits === 2048 && k.keySpec === 2), 'an AT_SIGNATURE RSA-2048 key');
      assert.ok(keys.some((k) => k.algorithm === 'ECDSA' && k.bits === 256), 'an ECDSA P-256 key');
      assert.ok(cap.rsaKeySizes.includes(2048));
      assert.deepEqual(cap.ecCurves, ['P-256', 'P-384', 'P-521']);
      for (const m of ['CKM_RSA_PKCS', 'CKM_RSA_PKCS_PSS', 'CKM_RSA_PKCS_OAEP', 'CKM_ECDSA', 'CKM_EC_KEY_PAIR_GEN']) assert.ok(cap.mechanisms.includes(m), m);
      assert.equal(cap.keyImport, true);
    });

    it('marks every destructive case not applicable, saying why', () => {
      const destructive = outcome.result.results.filter((r) => r.outcome.status === 'not-applicable' && /--allow-destructive/.test(r.outcome.reason));
      assert.ok(destructive.length > 0, 'some cases need --allow-destructive');
      assert.equal(outcome.result.results.filter((r) => r.outcome.status === 'passed' && /^(create|own|pin)\//.test(r.id) && r.area === 'cng').length, 0,
        'no CNG case that creates keys ran');
    });

    it('asked for the PIN once and put it nowhere in the result or the events', () => {
      assert.equal(outcome.asked, 1);
      const text = JSON.stringify([outcome.result, outcome.events]);
      assert.ok(!text.includes(MAIN.pin), 'the PIN is not in the report data');
    });
  });

  describe('selection', () => {
    it('runs only the named areas and honours --skip by id and by prefix', async () => {
      const { result, events } = await run(MAIN, { areas: ['cng'], skip: ['cng/provider/', 'cng/keys/open-by-name'] });
      assertConsistent(result, events);
      assert.deepEqual(result.areas.map((a) => a.id), ['cng']);
      assert.ok(result.results.every((r) => r.area === 'cng'));
      const provider = result.results.filter((r) => r.id.startsWith('provider/'));
      assert.ok(provider.length > 0);
      assert.ok(provider.every((r) => r.outcome.status === 'skipped'), 'the prefix skipped every provider/ case');
      assert.equal(result.results.find((r) => r.id === 'keys/open-by-name')?.outcome.status, 'skipped');
      assert.ok(result.results.some((r) => r.outcome.status === 'passed'), 'the rest ran');
      assert.equal(result.totals.failed, 0, failures(result));
    });

    it('refuses an unknown area, a malformed skip and an ambiguous target with NTE_INVALID_PARAMETER', async () => {
      const pin = async () => Buffer.from(MAIN.pin);
      const target = { kind: 'module' as const, module: SOFTHSM2_MODULE, tokenLabel: MAIN.label };
      const invalid = (err: unknown) => err instanceof CryptError && err.codeName === 'NTE_INVALID_PARAMETER';
      await assert.rejects(runConformance({ target, pin, areas: ['pkcs15' as never] }), invalid);
      await assert.rejects(runConformance({ target, pin, skip: ['not an id'] }), invalid);
      await assert.rejects(runConformance({ target, pin, skip: ['ksp/provider/'] }), invalid);
      await assert.rejects(runConformance({ target: { ...target, tokenSerial: MAIN.serial }, pin }), invalid);
      await assert.rejects(runConformance({ target: { kind: 'module', module: SOFTHSM2_MODULE }, pin }), invalid);
    });

    it('names the tokens it saw when the token is not there (SCARD_E_NO_SMARTCARD), and finds a token by serial', async () => {
      const pin = async () => Buffer.from(MAIN.pin);
      await assert.rejects(runConformance({ target: { kind: 'module', module: SOFTHSM2_MODULE, tokenLabel: 'no-such-token' }, pin }), (err: unknown) => {
        assert.ok(err instanceof CryptError && err.codeName === 'SCARD_E_NO_SMARTCARD', String(err));
        assert.match(err.message, /"conf-run-main"/);
        return true;
      });
      const { result } = await run(MAIN, { target: { kind: 'module', module: SOFTHSM2_MODULE, tokenSerial: MAIN.serial }, areas: ['cng'], skip: ['cng/keys/', 'cng/rsa/', 'cng/ecdsa/', 'cng/ecdh/', 'cng/handles/'] });
      assert.equal(result.target.label, MAIN.label);
      assert.equal(result.totals.failed, 0, failures(result));
    });

    it('runs against a registered provider (its card, found by the registration\'s criteria); an unknown one is NTE_NOT_FOUND', async () => {
      const home = mkdtempSync(join(tmpdir(), 'p11ksp-conf-home-'));
      const previous = process.env.P11KSP_HOME;
      process.env.P11KSP_HOME = home;
      try {
        await new RegistryStore(home).add({ name: 'conf-run-provider', kind: 'minidriver', module: SOFTHSM2_MODULE, match: { label: MAIN.label } });
        await assert.rejects(runConformance({ target: { kind: 'provider', provider: 'no-such-provider' }, pin: async () => Buffer.from('x') }), (err: unknown) => {
          assert.ok(err instanceof CryptError && err.codeName === 'NTE_NOT_FOUND', String(err));
          assert.match(err.message, /"conf-run-provider"/, 'the message lists what is registered');
          return true;
        });
        const { result, events } = await run(MAIN, { target: { kind: 'provider', provider: 'conf-run-provider' }, areas: ['cng', 'cryptoapi'] });
        assertConsistent(result, events);
        assert.deepEqual([result.target.kind, result.target.source, result.target.label], ['provider', 'conf-run-provider', MAIN.label]);
        assert.equal(result.totals.failed, 0, failures(result));
        assert.ok(result.totals.passed > 10);
      } finally {
        if (previous === undefined) delete process.env.P11KSP_HOME;
        else process.env.P11KSP_HOME = previous;
        rmSync(home, { recursive: true, force: true });
      }
    });
  });

  describe('a destructive run (--allow-destructive)', () => {
    let before_: string[];
    let outcome: { result: RunResult; events: RunEvent[]; asked: number };
    before(async () => {
      before_ = tokenSnapshot(SOFTHSM2_MODULE, DESTRUCTIVE.label, DESTRUCTIVE.pin);
      outcome = await run(DESTRUCTIVE, { allowDestructive: true });
    });

    it('passes every case, destructive ones included', () => {
      assertConsistent(outcome.result, outcome.events);
      assert.equal(outcome.result.totals.failed, 0, failures(outcome.result));
      assert.ok(outcome.result.results.some((r) => r.outcome.status === 'passed' && r.outcome.notes.some((n) => n.includes(OWN_PREFIX))),
        'destructive cases ran on containers of their own');
      const lockout = outcome.result.results.find((r) => r.id === 'pin/lockout');
      assert.equal(lockout?.outcome.status, 'not-applicable', 'the PIN lockout needs --allow-pin-lockout');
    });

    it('SAFETY: leaves every object that was on the token byte for byte, and no container of its own', async () => {
      assert.ok(before_.length >= 7, `the snapshot saw the three key pairs and the certificate (${before_.length} objects)`);
      assert.ok(outcome.result.results.some((r) => r.outcome.status === 'passed' && r.outcome.notes.some((n) => n.startsWith('cleanup: deleted'))),
        'the runner deleted containers the cases made');
      const after = tokenSnapshot(SOFTHSM2_MODULE, DESTRUCTIVE.label, DESTRUCTIVE.pin);
      for (const object of before_) assert.ok(after.includes(object), `still on the token unchanged: ${object}`);
      assert.deepEqual(labelsOf(after).filter((l) => l.startsWith(OWN_PREFIX)), [], 'no object of a p11ksp-conf-* container remains');
      assert.deepEqual((await containerNames(DESTRUCTIVE)).filter((n) => n.startsWith(OWN_PREFIX)), [], 'no p11ksp-conf-* container in mscp/cmapfile');
    });
  });

  describe('a destructive run stopped by its AbortSignal while a case makes a key', () => {
    let before_: string[];
    let outcome: { result: RunResult; events: RunEvent[]; asked: number };
    let stoppedAt: string | undefined;
    before(async () => {
      before_ = tokenSnapshot(SOFTHSM2_MODULE, STOPPED.label, STOPPED.pin);
      const controller = new AbortController();
      const events: RunEvent[] = [];
      // Stopped as the first case that creates a key on the card starts: it runs to its end, and the
      // container it made is deleted as after any case.
      outcome = await run(STOPPED, {
        areas: ['cng'], allowDestructive: true, signal: controller.signal,
        onEvent: (e) => {
          events.push(e);
          if (e.type === 'case-start' && e.id.startsWith('create/') && !controller.signal.aborted) {
            stoppedAt = e.id;
            controller.abort();
          }
        },
      });
      outcome.events = events;
    });

    it('the case in progress ends and passes; every case after it is skipped, saying the run was stopped', () => {
      assertConsistent(outcome.result, outcome.events);
      assert.ok(stoppedAt, 'a create/ case started');
      const order = outcome.events.filter((e): e is Extract<RunEvent, { type: 'case-start' }> => e.type === 'case-start').map((e) => e.id);
      const at = order.indexOf(stoppedAt);
      const byId = new Map(outcome.result.results.map((r) => [r.id, r.outcome]));
      const inProgress = byId.get(stoppedAt);
      assert.equal(inProgress?.status, 'passed', failures(outcome.result));
      assert.ok(inProgress.status === 'passed' && inProgress.notes.some((n) => n.includes(OWN_PREFIX)), `it made a container of its own (gone: the SAFETY test): ${JSON.stringify(inProgress)}`);
      const after = order.slice(at + 1).filter((id) => byId.get(id)?.status !== 'not-applicable');
      assert.ok(after.length > 0, 'cases were left when the run stopped');
      for (const id of after) {
        const o = byId.get(id)!;
        assert.ok(o.status === 'skipped' && /stopped/.test(o.reason), `${id}: ${JSON.stringify(o)}`);
      }
      assert.equal(outcome.result.totals.failed, 0);
    });

    it('SAFETY: leaves every object that was on the token byte for byte, and no container of its own', async () => {
      const after = tokenSnapshot(SOFTHSM2_MODULE, STOPPED.label, STOPPED.pin);
      for (const object of before_) assert.ok(after.includes(object), `still on the token unchanged: ${object}`);
      assert.deepEqual(labelsOf(after).filter((l) => l.startsWith(OWN_PREFIX)), [], 'no object of a p11ksp-conf-* container remains');
      assert.deepEqual((await containerNames(STOPPED)).filter((n) => n.startsWith(OWN_PREFIX)), [], 'no p11ksp-conf-* container in mscp/cmapfile');
    });

    it('refuses a signal that is not an AbortSignal with NTE_INVALID_PARAMETER', async () => {
      await assert.rejects(run(STOPPED, { signal: {} as AbortSignal }), (err: unknown) => err instanceof CryptError && err.codeName === 'NTE_INVALID_PARAMETER');
    });
  });

  describe('PIN lockout (--allow-pin-lockout) on a token with a retry counter', () => {
    // The PIN-counter shim gives SoftHSM2 a real card's counter (2 tries here). PKCS#11 shows a
    // counter only through the token flags, which are set after a failed login: the test presents one
    // wrong PIN first (in another process, through the shim) so that the probe sees the counter, as
    // it would on a card that was mistyped once. The run's first login resets the counter.
    let shim: ReturnType<typeof configurePinCounterShim>;
    let outcome: { result: RunResult; events: RunEvent[]; asked: number };
    const viaShim = (args: string[]) => runPkcs11Tool(['--module', shim.modulePath, '--token-label', LOCKOUT.label, ...args], { ...process.env, ...shim.env });

    before(async () => {
      shim = configurePinCounterShim({ maxTries: 2 });
      assert.throws(() => viaShim(['--login', '--pin', `${LOCKOUT.pin}x`, '--list-objects']), /CKR_PIN_INCORRECT/);
      outcome = await run(LOCKOUT, { areas: ['cng'], allowDestructive: true, allowPinLockout: true }, shim.modulePath);
    });

    it('runs the lockout case last and it passes; the other cases pass too', () => {
      const { result, events } = outcome;
      assertConsistent(result, events);
      assert.equal(result.capabilities.pinRetryCounter, true, 'the probe saw the counter');
      assert.equal(result.totals.failed, 0, failures(result));
      const lockout = result.results.find((r) => r.id === 'pin/lockout')!;
      assert.equal(lockout.outcome.status, 'passed');
      const starts = events.filter((e) => e.type === 'case-start');
      assert.equal(starts.at(-1)!.type === 'case-start' && starts.at(-1)!.id, 'pin/lockout', 'the lockout ran after every other case');
      assert.ok(lockout.outcome.status === 'passed' && lockout.outcome.notes.some((n) => /BLOCKED/.test(n)), 'the report says the PIN is left blocked');
    });

    it('leaves the user PIN blocked and nothing of its own; the SO can unblock it (what the suite cannot do)', async () => {
      assert.throws(() => viaShim(['--login', '--pin', LOCKOUT.pin, '--list-objects']), /CKR_PIN_LOCKED/, 'the right PIN is refused: blocked');
      assert.deepEqual((await containerNames(LOCKOUT)).filter((n) => n.startsWith(OWN_PREFIX)), [], 'no p11ksp-conf-* container left');
      // What the report tells the user to do: reset the user PIN with the SO PIN.
      viaShim(['--login', '--login-type', 'so', '--so-pin', LOCKOUT.soPin, '--init-pin', '--new-pin', LOCKOUT.pin]);
      assert.match(viaShim(['--login', '--pin', LOCKOUT.pin, '--list-objects']), /Private Key Object/, 'the token works again after the SO reset');
    });
  });
});

