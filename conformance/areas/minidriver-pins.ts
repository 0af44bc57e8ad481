/**
 * Minidriver cases: PIN entry points (minidriver.md §7, §8). Authentication by name and by PIN_ID,
 * deauthentication, the challenge entry points the card may not offer, the argument rules, and the
 * wrong-PIN rule (SCARD_W_WRONG_CHV with the tries left). The cases that change or block the PIN are
 * destructive and live in minidriver-own.ts.
 */
import {
  CARD_AUTHENTICATE_GENERATE_SESSION_PIN, CARD_DATA_VALUE_UNKNOWN, CARD_PIN_STRENGTH_SESSION_PIN, CREATE_PIN_SET,
  PIN_SET_ALL_ROLES, ROLE_USER, wszCARD_USER_USER,
} from '../../minidriver/constants.js';
import type { CardModule } from '../../minidriver/card-module.js';
import { CryptError } from '../../minidriver/errors.js';
import type { CaseContext, ConformanceCase } from '../case.js';
import { check, checkEqual, expectCode, expectCodeIn } from './expect.js';
import { authenticateUser, withCardModule } from './minidriver-support.js';

/** A PIN that differs from the real one in its last byte (so it is wrong whatever the PIN is). */
export async function wrongPin(ctx: CaseContext): Promise<Uint8Array> {
  return ctx.withPin(async (pin) => {
    const wrong = Uint8Array.from(pin.length ? pin : [0x30]);
    wrong[wrong.length - 1] = wrong[wrong.length - 1] === 0x30 ? 0x31 : 0x30;
    return wrong;
  });
}

async function isAuthenticated(md: CardModule): Promise<boolean> {
  return ((await md.CardGetProperty('Authenticated State')) & CREATE_PIN_SET(ROLE_USER)) !== 0;
}

/**
 * Tries left as the error reports them: a number below the unknown marker, or undefined when the card
 * cannot tell (CARD_DATA_VALUE_UNKNOWN, what OpenSC's minidriver reports too).
 */
export function triesLeft(err: CryptError): number | undefined {
  return err.attemptsRemaining === undefined || err.attemptsRemaining === CARD_DATA_VALUE_UNKNOWN ? undefined : err.attemptsRemaining;
}

export const minidriverPinCases: ConformanceCase[] = [
  {
    id: 'pin/authenticate',
    title: 'CardAuthenticatePin("user") and CardAuthenticateEx(ROLE_USER) accept the PIN; CardDeauthenticate and CardDeauthenticateEx(PIN_SET_ALL_ROLES) log out',
    async run(ctx) {
      await withCardModule(ctx, async (md) => {
        await authenticateUser(ctx, md);
        check(await isAuthenticated(md), 'ROLE_USER is authenticated after CardAuthenticatePin');
        await md.CardDeauthenticate(wszCARD_USER_USER, 0);
        check(!(await isAuthenticated(md)), 'ROLE_USER is not authenticated after CardDeauthenticate');
        const session = await ctx.withPin((pin) => md.CardAuthenticateEx(ROLE_USER, 0, pin));
        checkEqual(session, null, 'CardAuthenticateEx without GENERATE_SESSION_PIN returns no session PIN');
        check(await isAuthenticated(md), 'ROLE_USER is authenticated after CardAuthenticateEx');
        await md.CardDeauthenticateEx(PIN_SET_ALL_ROLES, 0);
        check(!(await isAuthenticated(md)), 'ROLE_USER is not authenticated after CardDeauthenticateEx(PIN_SET_ALL_ROLES)');
        await authenticateUser(ctx, md); // the cases after this one find the PIN verified, as a CSP leaves it
      });
    },
  },
  {
    id: 'pin/argument-rules',
    title: 'An unknown user name or PIN_ID, an empty PIN and unknown flags are SCARD_E_INVALID_PARAMETER (empty PIN: or SCARD_E_INVALID_CHV), without using a try',
    async run(ctx) {
      await withCardModule(ctx, async (md) => {
        await ctx.withPin(async (pin) => {
          await expectCode(() => md.CardAuthenticatePin('nobody', pin), 'SCARD_E_INVALID_PARAMETER', 'CardAuthenticatePin for user "nobody"');
          await expectCode(() => md.CardAuthenticateEx(7, 0, pin), 'SCARD_E_INVALID_PARAMETER', 'CardAuthenticateEx for PIN_ID 7');
          await expectCode(() => md.CardAuthenticateEx(ROLE_USER, 0x4, pin), 'SCARD_E_INVALID_PARAMETER', 'CardAuthenticateEx with dwFlags 4');
        });
        await expectCodeIn(() => md.CardAuthenticatePin(wszCARD_USER_USER, new Uint8Array(0)), ['SCARD_E_INVALID_PARAMETER', 'SCARD_E_INVALID_CHV'], 'CardAuthenticatePin with an empty PIN');
        await expectCode(() => md.CardDeauthenticateEx(0x100, 0), 'SCARD_E_INVALID_PARAMETER', 'CardDeauthenticateEx with a PIN_SET beyond MAX_PINS');
        await authenticateUser(ctx, md); // the PIN still works: none of the above was counted as a wrong try
      });
    },
  },
  {
    id: 'pin/session-pin',
    title: 'CARD_AUTHENTICATE_GENERATE_SESSION_PIN is offered exactly when CP_CARD_PIN_STRENGTH_VERIFY says so (else SCARD_E_UNSUPPORTED_FEATURE)',
    async run(ctx) {
      await withCardModule(ctx, async (md) => {
        const strength = await md.CardGetProperty('PIN Strength Verify', ROLE_USER);
        if (strength & CARD_PIN_STRENGTH_SESSION_PIN) {
          const session = await ctx.withPin((pin) => md.CardAuthenticateEx(ROLE_USER, CARD_AUTHENTICATE_GENERATE_SESSION_PIN, pin));
          check(session && session.length > 0, 'a session PIN comes back');
        } else {
          await ctx.withPin((pin) => expectCode(() => md.CardAuthenticateEx(ROLE_USER, CARD_AUTHENTICATE_GENERATE_SESSION_PIN, pin), 'SCARD_E_UNSUPPORTED_FEATURE', 'a session PIN from a plaintext-only card'));
        }
        ctx.note(`CP_CARD_PIN_STRENGTH_VERIFY = ${strength}`);
        await authenticateUser(ctx, md);
      });
    },
  },
  {
    id: 'pin/challenge',
    title: 'CardGetChallenge / CardGetChallengeEx / CardAuthenticateChallenge: 8-byte multiples that differ between calls, or SCARD_E_UNSUPPORTED_FEATURE',
    async run(ctx) {
      await withCardModule(ctx, async (md) => {
        let offered = false;
        try {
          const a = await md.CardGetChallenge();
          const b = await md.CardGetChallenge();
          check(a.length > 0 && a.length % 8 === 0, `the challenge is n×8 bytes (${a.length})`);
          check(!a.equals(b), 'two challenges differ');
          offered = true;
        } catch (err) {
          if (!CryptError.is(err, 'SCARD_E_UNSUPPORTED_FEATURE')) throw err;
        }
        ctx.note(`CardGetChallenge ${offered ? 'offered' : 'not offered (SCARD_E_UNSUPPORTED_FEATURE)'}`);
        if (!offered) {
          await expectCode(() => md.CardAuthenticateChallenge(Buffer.alloc(8)), 'SCARD_E_UNSUPPORTED_FEATURE', 'CardAuthenticateChallenge without challenges');
        }
        await expectCodeIn(() => md.CardGetChallengeEx(ROLE_USER, 0), ['SCARD_E_UNSUPPORTED_FEATURE', 'SCARD_E_INVALID_PARAMETER'], 'CardGetChallengeEx for ROLE_USER (an alphanumeric PIN, not a challenge-response one)');
      });
    },
  },
  {
    id: 'pin/wrong-pin',
    title: 'A wrong PIN is SCARD_W_WRONG_CHV with the tries left; the right PIN then succeeds and resets the counter (uses one PIN try)',
    requires: { applicable: (c) => (c.pinRetryCounter ? undefined : 'the token reports no PIN retry counter') },
    async run(ctx) {
      await withCardModule(ctx, async (md) => {
        // The right PIN first: the counter is then at its maximum, so one wrong try cannot block it.
        await authenticateUser(ctx, md);
        const wrong = await wrongPin(ctx);
        try {
          const err = await expectCode(() => md.CardAuthenticatePin(wszCARD_USER_USER, wrong), 'SCARD_W_WRONG_CHV', 'CardAuthenticatePin with a wrong PIN');
          check(err.attemptsRemaining !== undefined, 'the error carries attemptsRemaining');
          check(err.attemptsRemaining !== 0, 'a wrong try after a right one does not block the PIN');
          // A PIN of 4+ characters cannot turn up in a message by chance; a shorter one could.
          if (wrong.length >= 4) check(!err.message.includes(Buffer.from(wrong).toString('latin1')), 'the message does not contain the PIN presented');
          const left = triesLeft(err);
          ctx.note(`tries left after one wrong PIN: ${left ?? 'not reported by the card (CARD_DATA_VALUE_UNKNOWN)'}`);
        } finally {
          wrong.fill(0);
          await authenticateUser(ctx, md);
        }
        check(await isAuthenticated(md), 'the right PIN authenticates after the wrong one');
      });
    },
  },
];
