import assert from 'node:assert/strict';
import type { CardModule } from '../../minidriver/card-module.js';
import type { Pkcs11Minidriver } from '../../pkcs11-bridge/index.js';
import { configurePinCounterShim, type PinCounterSetup, resetPinCounters } from '../rigs/index.js';
import { expectCryptError, makeToken, newDriver, openContext, pin } from './helpers.js';

// Through the pin-counter shim: SoftHSM2 with a card's user-PIN retry counter (3 tries).
const USER_PIN = 'counted-pin-1';
const SO_PIN = 'counted-so-1';
const token = makeToken('br-pincount', { pin: USER_PIN, soPin: SO_PIN });
const lockToken = makeToken('br-pinlock', { pin: 'lock-pin-1', soPin: 'lock-so-1' });

const UNKNOWN = 0xffffffff;
const CARD_AUTHENTICATE_PIN_PIN = 2;

/** Restores the shim's configuration the rig's own selftest expects. */
function resetShimEnvironment(): void {
  process.env.P11KSP_SHIM_LOCK_ON_LAST = '0';
  process.env.P11KSP_SHIM_FAIL_AFTER = '';
}

describe('pkcs11-bridge: PIN retry counter (pin-counter shim, 3 tries)', () => {
  let setup: PinCounterSetup;
  let driver: Pkcs11Minidriver;
  let ctx: CardModule;
  let userPin = USER_PIN;

  before(async () => {
    setup = configurePinCounterShim({ maxTries: 3 });
    driver = newDriver(setup.modulePath);
    ctx = await openContext(driver, token.label);
  });

  after(async () => {
    await ctx.CardDeleteContext();
    await driver.close();
    resetShimEnvironment();
  });

  beforeEach(async () => {
    await ctx.CardDeauthenticateEx(0xff);
    resetPinCounters(setup.stateDir);
  });

  it('counts down: unknown (or 2), then 1 on the final try, then blocked', async () => {
    const first = await expectCryptError(() => ctx.CardAuthenticatePin('user', pin('wrong-1')), 'SCARD_W_WRONG_CHV', 'first wrong PIN');
    assert.ok(first.attemptsRemaining === UNKNOWN || first.attemptsRemaining === 2, `first: ${first.attemptsRemaining}`);
    const second = await expectCryptError(() => ctx.CardAuthenticatePin('user', pin('wrong-2')), 'SCARD_W_WRONG_CHV', 'second wrong PIN');
    assert.equal(second.attemptsRemaining, 1, 'the final try');
    let third: unknown;
    try {
      await ctx.CardAuthenticatePin('user', pin('wrong-3'));
    } catch (err) {
      third = err;
    }
    const e = third as { codeName?: string; attemptsRemaining?: number };
    assert.ok((e.codeName === 'SCARD_W_WRONG_CHV' && e.attemptsRemaining === 0) || e.codeName === 'SCARD_W_CHV_BLOCKED',
      `third wrong PIN: ${e.codeName} with ${e.attemptsRemaining} tries left`);
  });

  it('a blocked PIN is SCARD_W_CHV_BLOCKED even with the right PIN', async () => {
    for (let i = 0; i < 3; i++) await ctx.CardAuthenticatePin('user', pin(`wrong-${i}`)).catch(() => undefined);
    const err = await expectCryptError(() => ctx.CardAuthenticatePin('user', pin(userPin)), 'SCARD_W_CHV_BLOCKED');
    assert.equal(err.attemptsRemaining, 0);
    await expectCryptError(() => ctx.CardAuthenticateEx(1, 0, pin(userPin)), 'SCARD_W_CHV_BLOCKED');
    assert.equal(await ctx.CardGetProperty('Authenticated State'), 0);
  });

  it('CardUnblockPin with the SO PIN (CARD_AUTHENTICATE_PIN_PIN) resets the counter and sets the new PIN', async () => {
    for (let i = 0; i < 3; i++) await ctx.CardAuthenticatePin('user', pin(`wrong-${i}`)).catch(() => undefined);
    await expectCryptError(() => ctx.CardAuthenticatePin('user', pin(userPin)), 'SCARD_W_CHV_BLOCKED');
    const next = 'counted-pin-2';
    await ctx.CardUnblockPin('user', pin(SO_PIN), pin(next), 0, CARD_AUTHENTICATE_PIN_PIN);
    await ctx.CardDeauthenticateEx(0xff);
    const err = await expectCryptError(() => ctx.CardAuthenticatePin('user', pin(userPin)), 'SCARD_W_WRONG_CHV', 'the replaced PIN');
    assert.notEqual(err.attemptsRemaining, 0, 'not blocked any more');
    await ctx.CardAuthenticatePin('user', pin(next));
    userPin = next;
    assert.equal(await ctx.CardGetProperty('Authenticated State'), 2);
  });

  it('a correct PIN resets the counter', async () => {
    await expectCryptError(() => ctx.CardAuthenticatePin('user', pin('wrong-a')), 'SCARD_W_WRONG_CHV');
    const second = await expectCryptError(() => ctx.CardAuthenticatePin('user', pin('wrong-b')), 'SCARD_W_WRONG_CHV');
    assert.equal(second.attemptsRemaining, 1);
    await ctx.CardAuthenticatePin('user', pin(userPin));
    await ctx.CardDeauthenticate('user');
    const again = await expectCryptError(() => ctx.CardAuthenticatePin('user', pin('wrong-c')), 'SCARD_W_WRONG_CHV');
    assert.notEqual(again.attemptsRemaining, 1, 'back to the full count');
    assert.notEqual(again.attemptsRemaining, 0);
  });

  it('a wrong PIN while authenticated is counted (and refused)', async () => {
    await ctx.CardAuthenticatePin('user', pin(userPin));
    await expectCryptError(() => ctx.CardAuthenticatePin('user', pin('wrong-while-in')), 'SCARD_W_WRONG_CHV');
  });

  it('a wrong current PIN in CardChangeAuthenticator is counted: SCARD_W_WRONG_CHV with the tries left', async () => {
    await expectCryptError(() => ctx.CardAuthenticatePin('user', pin('wrong-x')), 'SCARD_W_WRONG_CHV');
    const err = await expectCryptError(() => ctx.CardChangeAuthenticator('user', pin('wrong-y'), pin('never-set'), 0, 0), 'SCARD_W_WRONG_CHV');
    assert.equal(err.attemptsRemaining, 1);
    await ctx.CardAuthenticatePin('user', pin(userPin));
  });
});

describe('pkcs11-bridge: PIN retry counter that locks on the last wrong PIN (P11KSP_SHIM_LOCK_ON_LAST=1)', () => {
  let driver: Pkcs11Minidriver;
  let ctx: CardModule;

  before(async () => {
    driver = newDriver(configurePinCounterShim({ maxTries: 3, lockOnLast: true }).modulePath);
    ctx = await openContext(driver, lockToken.label);
  });

  after(async () => {
    await ctx.CardDeleteContext();
    await driver.close();
    resetShimEnvironment();
  });

  it('the third wrong PIN is SCARD_W_CHV_BLOCKED with 0 tries left, and SO unblock works', async () => {
    await expectCryptError(() => ctx.CardAuthenticatePin('user', pin('wrong-1')), 'SCARD_W_WRONG_CHV');
    const second = await expectCryptError(() => ctx.CardAuthenticatePin('user', pin('wrong-2')), 'SCARD_W_WRONG_CHV');
    assert.equal(second.attemptsRemaining, 1);
    const third = await expectCryptError(() => ctx.CardAuthenticatePin('user', pin('wrong-3')), 'SCARD_W_CHV_BLOCKED');
    assert.equal(third.attemptsRemaining, 0);
    await ctx.CardChangeAuthenticatorEx(1, 2, pin(lockToken.soPin), 1, pin('lock-pin-2'), 0);
    await ctx.CardDeauthenticateEx(0xff);
    await ctx.CardAuthenticatePin('user', pin('lock-pin-2'));
  });
});
