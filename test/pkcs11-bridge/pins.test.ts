import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import type { CardModule } from '../../minidriver/card-module.js';
import { CryptError } from '../../minidriver/errors.js';
import type { Pkcs11Minidriver } from '../../pkcs11-bridge/index.js';
import pkcs11js from 'pkcs11js';
import { findSlotByLabel, loadModule } from '../rigs/index.js';
import { expectCryptError, makeToken, newDriver, openContext, pin, SOFTHSM2_MODULE, openContextPerSuite } from './helpers.js';

// SoftHSM2 directly: it has no retry counter (a wrong PIN never blocks it).
const USER_PIN = 'user-Pin-4711';
const SO_PIN = 'so-Pin-0815';
const token = makeToken('br-pins', { pin: USER_PIN, soPin: SO_PIN });
const changeToken = makeToken('br-pins-change', { pin: 'change-me-1', soPin: 'change-so-1' });

const ROLE_USER = 1;
const ROLE_ADMIN = 2;
const UNKNOWN = 0xffffffff;
const CARD_AUTHENTICATE_GENERATE_SESSION_PIN = 0x10000000;
const CARD_AUTHENTICATE_SESSION_PIN = 0x20000000;
const CARD_AUTHENTICATE_PIN_CHALLENGE_RESPONSE = 1;
const CARD_AUTHENTICATE_PIN_PIN = 2;
const PIN_CHANGE_FLAG_UNBLOCK = 1;
const PIN_CHANGE_FLAG_CHANGEPIN = 2;

/** Everything an error shows: message, String(), JSON, util.inspect (cause chain included) and stack. */
function renderings(err: unknown): string[] {
  const e = err as Error;
  return [e.message, String(e), JSON.stringify(e), inspect(e, { depth: 10 }), e.stack ?? ''];
}

describe('pkcs11-bridge: PINs on SoftHSM2 (no retry counter)', () => {
  let driver: Pkcs11Minidriver;
  let ctx: CardModule;

  openContextPerSuite(token.label, (d, c) => { driver = d; ctx = c; });

  beforeEach(() => ctx.CardDeauthenticateEx(0xff));

  it('a wrong PIN is SCARD_W_WRONG_CHV with attemptsRemaining 0xFFFFFFFF (unknown), however often', async () => {
    for (let i = 0; i < 5; i++) {
      const err = await expectCryptError(() => ctx.CardAuthenticatePin('user', pin('wrong-pin')), 'SCARD_W_WRONG_CHV', `attempt ${i + 1}`);
      assert.equal(err.attemptsRemaining, UNKNOWN, `attempt ${i + 1}`);
    }
    await ctx.CardAuthenticatePin('user', pin(USER_PIN));
    assert.equal(await ctx.CardGetProperty('Authenticated State'), 1 << ROLE_USER, 'SoftHSM2 never blocks');
  });

  it('a wrong PIN is SCARD_W_WRONG_CHV even while the user is already authenticated', async () => {
    await ctx.CardAuthenticatePin('user', pin(USER_PIN));
    await expectCryptError(() => ctx.CardAuthenticatePin('user', pin('wrong-pin')), 'SCARD_W_WRONG_CHV', 'CardAuthenticatePin');
    await expectCryptError(() => ctx.CardAuthenticateEx(ROLE_USER, 0, pin('wrong-pin')), 'SCARD_W_WRONG_CHV', 'CardAuthenticateEx');
  });

  it('a second driver in the process is not authenticated by a wrong PIN because the first one logged in', async () => {
    await ctx.CardAuthenticatePin('user', pin(USER_PIN));
    const other = newDriver();
    try {
      const ctx2 = await openContext(other, token.label);
      await expectCryptError(() => ctx2.CardAuthenticatePin('user', pin('not-the-pin')), 'SCARD_W_WRONG_CHV');
      assert.equal(await ctx2.CardGetProperty('Authenticated State'), 0);
    } finally {
      await other.close();
    }
  });

  // PKCS#11 login belongs to the application. When another library in the process holds it, C_Login
  // answers CKR_USER_ALREADY_LOGGED_IN without looking at the PIN, and checking the PIN would mean
  // logging that library out (and invalidating its key handles). The rule: that answer is
  // success. So the bridge cannot tell a wrong PIN here; this test pins the documented behaviour.
  it('when another library in the process holds the login, CardAuthenticatePin succeeds without checking the PIN (CKR_USER_ALREADY_LOGGED_IN is success)', async () => {
    const { pkcs11 } = loadModule(SOFTHSM2_MODULE); // the same library instance, another user of it
    const session = pkcs11.C_OpenSession(findSlotByLabel(pkcs11, token.label), pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
    try {
      pkcs11.C_Login(session, pkcs11js.CKU_USER, USER_PIN);
      const other = newDriver();
      try {
        const ctx2 = await openContext(other, token.label);
        await ctx2.CardAuthenticatePin('user', pin('not-the-pin'));
        assert.equal(await ctx2.CardGetProperty('Authenticated State'), 1 << ROLE_USER);
        // and the other library's login is left alone
        assert.equal(pkcs11.C_GetSessionInfo(session).state, 3 /* CKS_RW_USER_FUNCTIONS */);
      } finally {
        await other.close();
      }
    } finally {
      try { pkcs11.C_Logout(session); } catch { /* the bridge may have logged out already */ }
      pkcs11.C_CloseSession(session);
    }
  });

  it('CardAuthenticateEx with PIN_ID 1 (user) and 2 (admin); the authenticated state follows', async () => {
    assert.equal(await ctx.CardAuthenticateEx(ROLE_USER, 0, pin(USER_PIN)), null, 'no session PIN');
    assert.equal(await ctx.CardGetProperty('Authenticated State'), 1 << ROLE_USER);
    await ctx.CardAuthenticateEx(ROLE_ADMIN, 0, pin(SO_PIN));
    assert.equal(await ctx.CardGetProperty('Authenticated State'), 1 << ROLE_ADMIN);
    await ctx.CardDeauthenticateEx(1 << ROLE_ADMIN);
    assert.equal(await ctx.CardGetProperty('Authenticated State'), 0);
    await ctx.CardAuthenticatePin('admin', pin(SO_PIN));
    assert.equal(await ctx.CardGetProperty('Authenticated State'), 1 << ROLE_ADMIN);
    await ctx.CardDeauthenticate('admin');
    assert.equal(await ctx.CardGetProperty('Authenticated State'), 0);
  });

  it('CardAuthenticateEx: PIN_ID 0, 3 and 5 are SCARD_E_INVALID_PARAMETER; session PINs SCARD_E_UNSUPPORTED_FEATURE', async () => {
    for (const id of [0, 3, 5]) await expectCryptError(() => ctx.CardAuthenticateEx(id, 0, pin(USER_PIN)), 'SCARD_E_INVALID_PARAMETER', `PIN_ID ${id}`);
    await expectCryptError(() => ctx.CardAuthenticateEx(ROLE_USER, CARD_AUTHENTICATE_GENERATE_SESSION_PIN, pin(USER_PIN)), 'SCARD_E_UNSUPPORTED_FEATURE');
    await expectCryptError(() => ctx.CardAuthenticateEx(ROLE_USER, CARD_AUTHENTICATE_SESSION_PIN, pin(USER_PIN)), 'SCARD_E_UNSUPPORTED_FEATURE');
    await expectCryptError(() => ctx.CardAuthenticateEx(ROLE_USER, 0x1, pin(USER_PIN)), 'SCARD_E_INVALID_PARAMETER');
    assert.equal(await ctx.CardGetProperty('Authenticated State'), 0, 'none of them authenticated');
  });

  it('an empty PIN is SCARD_E_INVALID_CHV; an unknown user id SCARD_E_INVALID_PARAMETER', async () => {
    await expectCryptError(() => ctx.CardAuthenticatePin('user', Buffer.alloc(0)), 'SCARD_E_INVALID_CHV');
    await expectCryptError(() => ctx.CardAuthenticateEx(ROLE_USER, 0, Buffer.alloc(0)), 'SCARD_E_INVALID_CHV');
    await expectCryptError(() => ctx.CardAuthenticateEx(ROLE_USER, 0, null), 'SCARD_E_INVALID_CHV');
    await expectCryptError(() => ctx.CardAuthenticatePin('bob', pin(USER_PIN)), 'SCARD_E_INVALID_PARAMETER');
    await expectCryptError(() => ctx.CardAuthenticatePin('anonymous', pin(USER_PIN)), 'SCARD_E_INVALID_PARAMETER');
  });

  it('a wrong administrator PIN is SCARD_W_WRONG_CHV', async () => {
    await expectCryptError(() => ctx.CardAuthenticateEx(ROLE_ADMIN, 0, pin('wrong-so')), 'SCARD_W_WRONG_CHV');
    assert.equal(await ctx.CardGetProperty('Authenticated State'), 0);
  });

  it('never shows a PIN in an error (message, String, JSON, inspect, stack)', async () => {
    const secrets = ['Sekret-Wrong-1', 'Sekret-Wrong-SO-2', 'Sekret-New-3', 'Sekret-Unblock-4'];
    const errors: unknown[] = [];
    const collect = async (call: () => Promise<unknown>) => {
      try {
        await call();
      } catch (err) {
        errors.push(err);
        return;
      }
      assert.fail('expected a failure');
    };
    await collect(() => ctx.CardAuthenticatePin('user', pin(secrets[0]!)));
    await collect(() => ctx.CardAuthenticateEx(ROLE_ADMIN, 0, pin(secrets[1]!)));
    await collect(() => ctx.CardChangeAuthenticator('user', pin(secrets[0]!), pin(secrets[2]!), 0, 0));
    await collect(() => ctx.CardUnblockPin('user', pin(secrets[1]!), pin(secrets[3]!), 0, CARD_AUTHENTICATE_PIN_PIN));
    await collect(() => ctx.CardChangeAuthenticatorEx(PIN_CHANGE_FLAG_UNBLOCK, ROLE_ADMIN, pin(secrets[1]!), ROLE_USER, pin(secrets[3]!), 0));
    await collect(() => ctx.CardAuthenticateEx(7, 0, pin(secrets[0]!)));
    await collect(() => ctx.CardAuthenticatePin('user', Buffer.from([0xff, 0xfe, 0x53, 0x65, 0x6b])));
    assert.equal(errors.length, 7);
    for (const err of errors) {
      assert.ok(err instanceof CryptError, String(err));
      for (const text of renderings(err)) {
        for (const secret of [...secrets, USER_PIN, SO_PIN]) assert.ok(!text.includes(secret), `"${secret}" appears in: ${text.slice(0, 300)}`);
      }
    }
    await ctx.CardAuthenticatePin('user', pin(USER_PIN)); // the PINs are unchanged
  });

  it('CardUnblockPin / CardChangeAuthenticator argument errors', async () => {
    await expectCryptError(() => ctx.CardUnblockPin('user', pin(SO_PIN), pin('new-pin-x'), 0, CARD_AUTHENTICATE_PIN_CHALLENGE_RESPONSE), 'SCARD_E_UNSUPPORTED_FEATURE');
    await expectCryptError(() => ctx.CardUnblockPin('user', pin(SO_PIN), pin('new-pin-x'), 0, 0), 'SCARD_E_INVALID_PARAMETER');
    await expectCryptError(() => ctx.CardUnblockPin('admin', pin(SO_PIN), pin('new-pin-x'), 0, CARD_AUTHENTICATE_PIN_PIN), 'SCARD_E_INVALID_PARAMETER');
    await expectCryptError(() => ctx.CardUnblockPin('user', pin(SO_PIN), pin('new-pin-x'), 3, CARD_AUTHENTICATE_PIN_PIN), 'SCARD_E_INVALID_PARAMETER');
    await expectCryptError(() => ctx.CardChangeAuthenticator('user', pin(USER_PIN), pin('new-pin-x'), 5, 0), 'SCARD_E_INVALID_PARAMETER');
    await expectCryptError(() => ctx.CardChangeAuthenticatorEx(3, ROLE_USER, pin(USER_PIN), ROLE_USER, pin('new-pin-x'), 0), 'SCARD_E_INVALID_PARAMETER');
    await expectCryptError(() => ctx.CardChangeAuthenticatorEx(PIN_CHANGE_FLAG_CHANGEPIN, ROLE_ADMIN, pin(SO_PIN), ROLE_USER, pin('new-pin-x'), 0), 'SCARD_E_INVALID_PARAMETER');
    await ctx.CardAuthenticatePin('user', pin(USER_PIN)); // unchanged
  });
});

describe('pkcs11-bridge: changing and unblocking PINs on SoftHSM2', () => {
  let driver: Pkcs11Minidriver;
  let ctx: CardModule;
  let userPin = changeToken.pin;
  let soPin = changeToken.soPin;

  before(async () => {
    driver = newDriver();
    ctx = await openContext(driver, changeToken.label);
  });

  after(async () => {
    await ctx.CardDeleteContext();
    await driver.close();
  });

  it('CardChangeAuthenticator changes the user PIN: the old one fails, the new one works', async () => {
    const next = 'changed-pin-2';
    await ctx.CardChangeAuthenticator('user', pin(userPin), pin(next), 0, 0);
    await ctx.CardDeauthenticate('user');
    const err = await expectCryptError(() => ctx.CardAuthenticatePin('user', pin(userPin)), 'SCARD_W_WRONG_CHV', 'old PIN');
    assert.equal(err.attemptsRemaining, UNKNOWN);
    await ctx.CardAuthenticatePin('user', pin(next));
    userPin = next;
    await ctx.CardDeauthenticate('user');
  });

  it('CardChangeAuthenticator with the wrong current PIN is SCARD_W_WRONG_CHV and changes nothing', async () => {
    await ctx.CardDeauthenticate('user');
    await expectCryptError(() => ctx.CardChangeAuthenticator('user', pin('not-current'), pin('never-set'), 0, CARD_AUTHENTICATE_PIN_PIN), 'SCARD_W_WRONG_CHV');
    await expectCryptError(() => ctx.CardAuthenticatePin('user', pin('never-set')), 'SCARD_W_WRONG_CHV');
    await ctx.CardAuthenticatePin('user', pin(userPin));
  });

  it('CardChangeAuthenticator with the wrong current PIN is SCARD_W_WRONG_CHV while the user is authenticated too', async () => {
    await ctx.CardAuthenticatePin('user', pin(userPin));
    await expectCryptError(() => ctx.CardChangeAuthenticator('user', pin('not-current'), pin('never-set'), 0, 0), 'SCARD_W_WRONG_CHV');
    await ctx.CardDeauthenticate('user');
    await ctx.CardAuthenticatePin('user', pin(userPin));
  });

  it('a new PIN the token refuses (too short for SoftHSM2) is SCARD_E_INVALID_CHV and the old PIN stays', async () => {
    await expectCryptError(() => ctx.CardChangeAuthenticator('user', pin(userPin), pin('ab'), 0, 0), 'SCARD_E_INVALID_CHV');
    await ctx.CardDeauthenticateEx(0xff);
    await ctx.CardAuthenticatePin('user', pin(userPin));
  });

  it('CardChangeAuthenticatorEx PIN_CHANGE_FLAG_CHANGEPIN changes the user PIN', async () => {
    const next = 'changed-pin-3';
    await ctx.CardChangeAuthenticatorEx(PIN_CHANGE_FLAG_CHANGEPIN, ROLE_USER, pin(userPin), ROLE_USER, pin(next), 0);
    await ctx.CardDeauthenticateEx(0xff);
    await expectCryptError(() => ctx.CardAuthenticateEx(ROLE_USER, 0, pin(userPin)), 'SCARD_W_WRONG_CHV');
    await ctx.CardAuthenticateEx(ROLE_USER, 0, pin(next));
    userPin = next;
  });

  it('CardUnblockPin with the SO PIN sets a new user PIN and leaves nobody authenticated as admin', async () => {
    const next = 'unblocked-pin-4';
    await ctx.CardUnblockPin('user', pin(soPin), pin(next), 0, CARD_AUTHENTICATE_PIN_PIN);
    assert.notEqual(await ctx.CardGetProperty('Authenticated State'), 1 << ROLE_ADMIN, 'the administrator login ended');
    await ctx.CardDeauthenticateEx(0xff);
    await expectCryptError(() => ctx.CardAuthenticatePin('user', pin(userPin)), 'SCARD_W_WRONG_CHV', 'the replaced PIN');
    await ctx.CardAuthenticatePin('user', pin(next));
    userPin = next;
  });

  it('CardUnblockPin with a wrong SO PIN is SCARD_W_WRONG_CHV and the user PIN stays', async () => {
    await ctx.CardDeauthenticateEx(0xff);
    await expectCryptError(() => ctx.CardUnblockPin('user', pin('wrong-so-pin'), pin('never-set-2'), 0, CARD_AUTHENTICATE_PIN_PIN), 'SCARD_W_WRONG_CHV');
    await ctx.CardAuthenticatePin('user', pin(userPin));
  });

  it('CardChangeAuthenticatorEx PIN_CHANGE_FLAG_UNBLOCK (admin → user) and the admin PIN change', async () => {
    const next = 'unblocked-pin-5';
    await ctx.CardChangeAuthenticatorEx(PIN_CHANGE_FLAG_UNBLOCK, ROLE_ADMIN, pin(soPin), ROLE_USER, pin(next), 0);
    await ctx.CardDeauthenticateEx(0xff);
    await ctx.CardAuthenticatePin('user', pin(next));
    userPin = next;
    const nextSo = 'so-changed-6';
    await ctx.CardChangeAuthenticator('admin', pin(soPin), pin(nextSo), 0, 0);
    await ctx.CardDeauthenticateEx(0xff);
    await expectCryptError(() => ctx.CardAuthenticatePin('admin', pin(soPin)), 'SCARD_W_WRONG_CHV');
    await ctx.CardAuthenticatePin('admin', pin(nextSo));
    soPin = nextSo;
    await ctx.CardDeauthenticateEx(0xff);
  });
});
