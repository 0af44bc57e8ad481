import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pkcs11js from 'pkcs11js';
import { createSoftHsm, findSlotByLabel, isPkcs11Error, listTokens, loadModule, SoftHsmRig } from '../rigs/index.js';

const CKS_RO_USER_FUNCTIONS = 1; // PKCS#11 session state; pkcs11js does not export CKS_*

// Tokens at module top level: mocha evaluates every test file before any hook runs, so they exist
// before anything in this process C_Initializes SoftHSM2 (tokens added later stay invisible).
const rig = createSoftHsm({ tokens: [{ label: 'rigtest-A' }, { label: 'rigtest-B', pin: '1234', soPin: '5678' }] });

describe('rigs: SoftHSM2', () => {
  it('writes a private softhsm2.conf and points SOFTHSM2_CONF at it', () => {
    assert.match(rig.dir, /p11ksp-softhsm-/);
    assert.equal(process.env.SOFTHSM2_CONF, rig.confPath);
    assert.equal(rig.modulePath, '/usr/lib/softhsm/libsofthsm2.so');
  });

  it('is one store per process: createSoftHsm again adds to the same store', () => {
    assert.equal(SoftHsmRig.shared(), rig);
    assert.equal(createSoftHsm(), rig);
    assert.throws(() => rig.addToken({ label: 'rigtest-A' }), /exists/);
  });

  it('makes random hex PINs unless given', () => {
    const a = rig.token('rigtest-A');
    assert.match(a.pin, /^[0-9a-f]{16}$/);
    assert.match(a.soPin, /^[0-9a-f]{16}$/);
    assert.notEqual(a.pin, a.soPin);
    assert.equal(rig.token('rigtest-B').pin, '1234');
  });

  it('shows two tokens as two slots through pkcs11js, with the serials and slot IDs it reported', () => {
    const { pkcs11 } = loadModule(rig.modulePath);
    const tokens = listTokens(pkcs11);
    for (const label of ['rigtest-A', 'rigtest-B']) {
      const seen = tokens.find((t) => t.label === label);
      assert.ok(seen, `${label} visible`);
      assert.equal(seen.serial, rig.token(label).serial);
      assert.equal(Number(seen.slot.readBigUInt64LE(0)), rig.token(label).slotId);
      assert.ok(seen.flags & pkcs11js.CKF_TOKEN_INITIALIZED);
      assert.ok(seen.flags & pkcs11js.CKF_USER_PIN_INITIALIZED);
    }
    assert.notDeepEqual(findSlotByLabel(pkcs11, 'rigtest-A'), findSlotByLabel(pkcs11, 'rigtest-B'));
  });

  it('accepts the PINs it made, and a second loader of the .so meets ALREADY_INITIALIZED', () => {
    const first = loadModule(rig.modulePath);
    const second = loadModule(rig.modulePath);
    assert.equal(second.initializedHere, false, 'one library instance per process');
    const token = rig.token('rigtest-A');
    const session = second.pkcs11.C_OpenSession(findSlotByLabel(second.pkcs11, token.label), pkcs11js.CKF_SERIAL_SESSION);
    try {
      assert.throws(() => second.pkcs11.C_Login(session, pkcs11js.CKU_USER, 'wrong'), isPkcs11Error(pkcs11js.CKR_PIN_INCORRECT));
      second.pkcs11.C_Login(session, pkcs11js.CKU_USER, token.pin);
      // Login state belongs to the process, whichever loader opened the session.
      const other = first.pkcs11.C_OpenSession(findSlotByLabel(first.pkcs11, token.label), pkcs11js.CKF_SERIAL_SESSION);
      assert.equal(first.pkcs11.C_GetSessionInfo(other).state, CKS_RO_USER_FUNCTIONS);
      first.pkcs11.C_CloseSession(other);
      second.pkcs11.C_Logout(session);
    } finally {
      second.pkcs11.C_CloseSession(session);
    }
  });

  it('hides a token added after C_Initialize until C_Finalize + C_Initialize (child process)', () => {
    const probe = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'late-token-probe.js');
    const env = { ...process.env };
    delete env.SOFTHSM2_CONF; // the child makes its own store
    const result = JSON.parse(execFileSync(process.execPath, [probe], { env, encoding: 'utf8' })) as LateTokenProbe;
    const labels = (list: ProbeToken[]) => list.filter((t) => t.initialized).map((t) => t.label).sort();

    assert.deepEqual(labels(result.before), ['early']);
    assert.deepEqual(labels(result.afterAdd), ['early'], 'not listed while initialised');
    assert.equal(result.afterAdd.length, result.before.length, 'slot list unchanged');
    assert.equal(result.lateSlotBeforeReinit, pkcs11js.CKR_SLOT_ID_INVALID, 'its slot ID is unknown');
    assert.deepEqual(labels(result.afterReinit), ['early', 'late'], 'listed after re-initialisation');
    const early = (list: ProbeToken[]) => list.find((t) => t.label === 'early')?.slotId;
    assert.equal(early(result.afterReinit), early(result.before), 'existing slot IDs stay');
    assert.equal(result.afterReinit.find((t) => t.label === 'late')?.slotId, result.late.slotId);
    assert.equal(existsSync(result.dir), false, 'the exit hook removed the store');
  });
});

interface ProbeToken { label: string; slotId: number; initialized: boolean }
interface LateTokenProbe {
  dir: string;
  late: { slotId: number };
  before: ProbeToken[];
  afterAdd: ProbeToken[];
  lateSlotBeforeReinit: number;
  afterReinit: ProbeToken[];
}
