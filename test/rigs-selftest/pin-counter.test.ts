import assert from 'node:assert/strict';
import pkcs11js from 'pkcs11js';
import {
  configurePinCounterShim, createSoftHsm, findSlotByLabel, formatFaultRules, isPkcs11Error, listObjects, loadModule,
  Pkcs11ToolError, resetPinCounters, runPkcs11Tool, type FaultRule, type Handle, type PinCounterSetup, type Pkcs11,
} from '../rigs/index.js';

const USER_PIN_FLAGS = pkcs11js.CKF_USER_PIN_COUNT_LOW | pkcs11js.CKF_USER_PIN_FINAL_TRY | pkcs11js.CKF_USER_PIN_LOCKED;
const CKR_PIN_INCORRECT = isPkcs11Error(pkcs11js.CKR_PIN_INCORRECT);
const CKR_PIN_LOCKED = isPkcs11Error(pkcs11js.CKR_PIN_LOCKED);
const RW_SESSION = pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION;

// Its own token: login state is per process and per token, shared by the shim and direct loaders.
const rig = createSoftHsm({ tokens: [{ label: 'rigtest-pin' }] });
const token = rig.token('rigtest-pin');

describe('rigs: pin-counter shim', () => {
  let setup: PinCounterSetup;
  let direct: Pkcs11; // SoftHSM2 loaded directly: the shim's target is this same library instance
  let shim: Pkcs11;
  let slot: Handle;

  const pinFlags = () => shim.C_GetTokenInfo(slot).flags & USER_PIN_FLAGS;
  const withSession = <T>(flags: number, use: (session: Handle) => T): T => {
    const session = shim.C_OpenSession(slot, flags);
    try {
      return use(session);
    } finally {
      shim.C_CloseSession(session);
    }
  };
  const login = (pin: string) => withSession(pkcs11js.CKF_SERIAL_SESSION, (session) => {
    shim.C_Login(session, pkcs11js.CKU_USER, pin);
    shim.C_Logout(session);
  });
  const soUnlock = () => withSession(RW_SESSION, (session) => {
    shim.C_Login(session, pkcs11js.CKU_SO, token.soPin);
    shim.C_InitPIN(session, token.pin); // same PIN, so the rig's record stays right
    shim.C_Logout(session);
  });
  /** Applies a changed P11KSP_SHIM_* environment: the shim reads it at its C_Initialize. */
  const reinitializeShim = () => {
    shim.C_Finalize();
    shim.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
  };

  before(() => {
    setup = configurePinCounterShim({ maxTries: 3 });
    direct = loadModule(rig.modulePath).pkcs11;
    const loaded = loadModule(setup.modulePath);
    shim = loaded.pkcs11;
    assert.equal(loaded.initializedHere, true, 'the shim accepts a target initialised by someone else');
    slot = findSlotByLabel(shim, token.label);
  });

  beforeEach(() => resetPinCounters(setup.stateDir));

  after(() => {
    shim.C_Finalize();
    // The shim did not own SoftHSM2's initialisation, so the direct loader keeps working.
    assert.ok(direct.C_GetSlotList(true).length > 0);
  });

  it('counts wrong PINs down, shows COUNT_LOW / FINAL_TRY / LOCKED, then refuses the right PIN', () => {
    assert.equal(pinFlags(), 0);
    const expectedFlags = [pkcs11js.CKF_USER_PIN_COUNT_LOW, pkcs11js.CKF_USER_PIN_FINAL_TRY, pkcs11js.CKF_USER_PIN_LOCKED];
    for (const flags of expectedFlags) {
      assert.throws(() => login('wrong'), CKR_PIN_INCORRECT); // the last one too, as OpenSC reports 63 C0
      assert.equal(pinFlags(), flags);
    }
    assert.throws(() => login(token.pin), CKR_PIN_LOCKED);
    assert.throws(() => login('wrong'), CKR_PIN_LOCKED);
    assert.equal(direct.C_GetTokenInfo(slot).flags & pkcs11js.CKF_USER_PIN_LOCKED, 0, 'SoftHSM2 itself never locks');
  });

  it('unlocks after an SO login and C_InitPIN', () => {
    for (let i = 0; i < 3; i++) assert.throws(() => login('wrong'), CKR_PIN_INCORRECT);
    assert.equal(pinFlags(), pkcs11js.CKF_USER_PIN_LOCKED);
    soUnlock();
    assert.equal(pinFlags(), 0);
    login(token.pin);
  });

  it('resets the counter on a correct login', () => {
    assert.throws(() => login('wrong'), CKR_PIN_INCORRECT);
    assert.throws(() => login('wrong'), CKR_PIN_INCORRECT);
    assert.equal(pinFlags(), pkcs11js.CKF_USER_PIN_FINAL_TRY);
    login(token.pin);
    assert.equal(pinFlags(), 0);
  });

  it('counts a wrong old PIN in C_SetPIN', () => {
    withSession(RW_SESSION, (session) => {
      assert.throws(() => shim.C_SetPIN(session, 'wrong', 'new-pin'), CKR_PIN_INCORRECT);
    });
    assert.equal(pinFlags(), pkcs11js.CKF_USER_PIN_COUNT_LOW);
  });

  it('shares the counter with other processes through the state dir', () => {
    const viaTool = { modulePath: setup.modulePath, label: token.label, pin: 'wrong' }; // env: process.env
    for (let i = 0; i < 2; i++) {
      assert.throws(() => listObjects(viaTool), (e: unknown) => e instanceof Pkcs11ToolError && /CKR_PIN_INCORRECT/.test(e.stderr));
    }
    assert.equal(pinFlags(), pkcs11js.CKF_USER_PIN_FINAL_TRY, 'two wrong PINs from pkcs11-tool seen here');
    listObjects({ ...viaTool, pin: token.pin });
    assert.equal(pinFlags(), 0, 'its correct login reset the counter for us too');
  });

  it('with P11KSP_SHIM_LOCK_ON_LAST=1, the last wrong PIN already returns CKR_PIN_LOCKED', () => {
    process.env.P11KSP_SHIM_LOCK_ON_LAST = '1';
    try {
      reinitializeShim();
      assert.throws(() => login('wrong'), CKR_PIN_INCORRECT);
      assert.throws(() => login('wrong'), CKR_PIN_INCORRECT);
      assert.throws(() => login('wrong'), CKR_PIN_LOCKED);
      assert.equal(pinFlags(), pkcs11js.CKF_USER_PIN_LOCKED);
    } finally {
      process.env.P11KSP_SHIM_LOCK_ON_LAST = '0';
      reinitializeShim();
    }
  });

  it('C_Finalize of the shim closes only its own sessions when it does not own the target', () => {
    const ours = direct.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
    const shims = shim.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
    reinitializeShim();
    assert.throws(() => direct.C_GetSessionInfo(shims), isPkcs11Error(pkcs11js.CKR_SESSION_HANDLE_INVALID));
    assert.equal(direct.C_GetSessionInfo(ours).slotID.equals(slot), true);
    direct.C_CloseSession(ours);
  });

  describe('fault injection (P11KSP_SHIM_FAIL_AFTER)', () => {
    const withFaults = (rules: FaultRule[] | string, run: () => void) => {
      process.env.P11KSP_SHIM_FAIL_AFTER = typeof rules === 'string' ? rules : formatFaultRules(rules);
      try {
        reinitializeShim();
        run();
      } finally {
        process.env.P11KSP_SHIM_FAIL_AFTER = '';
        reinitializeShim();
      }
    };

    it('fails the named function with the CKR after n successful calls, and keeps failing', () => {
      withFaults([{ after: 2, ckr: pkcs11js.CKR_SESSION_HANDLE_INVALID, function: 'C_GetSessionInfo' }], () => {
        withSession(pkcs11js.CKF_SERIAL_SESSION, (session) => {
          shim.C_GetSessionInfo(session);
          shim.C_GetSessionInfo(session);
          for (let i = 0; i < 2; i++) {
            assert.throws(() => shim.C_GetSessionInfo(session), isPkcs11Error(pkcs11js.CKR_SESSION_HANDLE_INVALID));
          }
          shim.C_GetTokenInfo(slot); // other functions unaffected
        });
      });
    });

    it('"*" fails every function: a removed card, here seen by pkcs11-tool in a child process', () => {
      const env = { ...process.env, P11KSP_SHIM_FAIL_AFTER: formatFaultRules([{ after: 0, ckr: pkcs11js.CKR_DEVICE_REMOVED, function: '*' }]) };
      assert.throws(() => runPkcs11Tool(['--module', setup.modulePath, '--list-slots'], env),
        (e: unknown) => e instanceof Pkcs11ToolError && /CKR_DEVICE_REMOVED/.test(e.stderr));
    });

    it('refuses to initialise with a malformed rule rather than ignore it', () => {
      process.env.P11KSP_SHIM_FAIL_AFTER = 'two:0x32:C_Sign';
      try {
        shim.C_Finalize();
        assert.throws(() => shim.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK }), isPkcs11Error(pkcs11js.CKR_GENERAL_ERROR));
      } finally {
        process.env.P11KSP_SHIM_FAIL_AFTER = '';
        shim.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
      }
    });
  });
});
