/**
 * How a key handle reaches its card: with the PIN under the card's cache policy (smartcard/
 * authentication.ts), through the UI unless the key or the call is silent, and with a removed card
 * reported to the service so its state and PINs go at once.
 */
import { ROLE_USER } from '../minidriver/constants.js';
import { wipe } from '../native/index.js';
import {
  type AuthenticationContext, authenticatedWarm, presentPin, warmFailed, withAuthentication,
} from '../smartcard/authentication.js';
import type { SmartCard } from '../smartcard/card.js';
import { Interaction } from '../smartcard/ui.js';
import { NCRYPT_SILENT_FLAG } from './constants.js';
import type { NCryptKeyHandle, NCryptProvHandle } from './handles.js';
import type { PersistedKey } from './key-model.js';

/** An Interaction holds nothing but its silence: one of each serves every call. */
const INTERACTIVE = new Interaction(false);
const SILENT = new Interaction(true);

export function isSilent(flags: number | undefined, keySilent = false): boolean {
  return keySilent || ((flags ?? 0) & NCRYPT_SILENT_FLAG) !== 0;
}

/** The authentication context of card work done for a provider's key (the user PIN: ROLE_USER). */
export function authenticationContext(provider: NCryptProvHandle, card: SmartCard, container: string, silent: boolean, operation: string): AuthenticationContext {
  return {
    card,
    pins: provider.service.pins,
    interaction: silent ? SILENT : INTERACTIVE,
    pinId: ROLE_USER,
    container,
    operation,
    ...(provider.pinPrompt !== undefined ? { pinPrompt: provider.pinPrompt } : {}),
  };
}

/**
 * A PIN set on the provider handle (NCRYPT_PIN_PROPERTY) is presented — verified and cached — before
 * the card work that needs one; it is handed over once and wiped.
 */
export async function presentProviderPin(provider: NCryptProvHandle, ctx: AuthenticationContext): Promise<void> {
  const pin = provider.takePin();
  if (pin) await presentTakenPin(ctx, pin);
}

async function presentTakenPin(ctx: AuthenticationContext, pin: Buffer): Promise<void> {
  try {
    await presentPin(ctx, pin);
  } finally {
    wipe(pin);
  }
}

/**
 * Runs card work for a key. Private work (sign, decrypt, agreement, writes) runs authenticated;
 * public work (reading certificates) does not. Failures are reported to the service, which tells a
 * removed card from any other error.
 */
export function onCard<T>(handle: NCryptKeyHandle, key: PersistedKey, flags: number | undefined, operation: string, needsPin: boolean, work: () => Promise<T>): Promise<T> {
  return withCard(handle.provider, key.card, key.container.name, isSilent(flags, key.silent), operation, needsPin, work);
}

export function withCard<T>(provider: NCryptProvHandle, card: SmartCard, container: string, silent: boolean, operation: string, needsPin: boolean, work: () => Promise<T>): Promise<T> {
  if (needsPin && !provider.pinWaiting && authenticatedWarm(card, provider.service.pins, ROLE_USER)) {
    // The warm path (why it is safe: authenticatedWarm): the card's own Promise with a handler for a
    // refusal, and no async frame, which would cost a further Promise per signature. The context, the
    // policy look-up and the Authenticated State check are what a refusal needs, so only then are they made.
    let pending: Promise<T>;
    try { pending = work(); } catch (err) { pending = Promise.reject(err); }
    return pending.then(undefined, (err: unknown) => reportingFailure(provider, card, () =>
      warmFailed(authenticationContext(provider, card, container, silent, operation), err, work)));
  }
  return reportingFailure(provider, card, async () => {
    if (!needsPin) return work();
    const ctx = authenticationContext(provider, card, container, silent, operation);
    const pin = provider.takePin(); // undefined unless NCRYPT_PIN_PROPERTY is waiting to be presented
    if (pin) await presentTakenPin(ctx, pin);
    return withAuthentication(ctx, work);
  });
}

/** Card work whose failure is reported to the service (a removed card's state and PINs go at once). */
async function reportingFailure<T>(provider: NCryptProvHandle, card: SmartCard, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    await provider.service.cardFailed(card, err);
    throw err;
  }
}
