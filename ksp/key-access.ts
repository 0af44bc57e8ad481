/**
 * How a key handle reaches its card: with the PIN under the card's cache policy (smartcard/
 * authentication.ts), through the UI unless the key or the call is silent, and with a removed card
 * reported to the service so its state and PINs go at once.
 */
import { ROLE_USER } from '../minidriver/constants.js';
import { type AuthenticationContext, presentPin, withAuthentication } from '../smartcard/authentication.js';
import { Interaction } from '../smartcard/ui.js';
import { wipe } from '../native/index.js';
import { NCRYPT_SILENT_FLAG } from './constants.js';
import type { NCryptKeyHandle } from './handles.js';
import type { PersistedKey } from './key-model.js';

export function isSilent(flags: number | undefined, keySilent = false): boolean {
  return keySilent || ((flags ?? 0) & NCRYPT_SILENT_FLAG) !== 0;
}

export function authenticationContext(handle: NCryptKeyHandle, key: PersistedKey, flags: number | undefined, operation: string): AuthenticationContext {
  return {
    card: key.card,
    pins: handle.provider.service.pins,
    interaction: new Interaction(isSilent(flags, key.silent)),
    pinId: ROLE_USER,
    container: key.container.name,
    operation,
    ...(handle.provider.pinPrompt !== undefined ? { pinPrompt: handle.provider.pinPrompt } : {}),
  };
}

/**
 * Runs card work for a key. `private` work (sign, decrypt, agreement, writes) runs authenticated;
 * public work (reading certificates) does not. A PIN set on the provider handle is presented first
 * (verified and cached) when the card has none cached.
 */
export async function onCard<T>(handle: NCryptKeyHandle, key: PersistedKey, flags: number | undefined, operation: string, needsPin: boolean, work: () => Promise<T>): Promise<T> {
  const service = handle.provider.service;
  try {
    if (!needsPin) return await work();
    const ctx = authenticationContext(handle, key, flags, operation);
    const providerPin = handle.provider.takePin();
    if (providerPin) {
      try {
        await presentPin(ctx, providerPin);
      } finally {
        wipe(providerPin);
      }
    }
    return await withAuthentication(ctx, work);
  } catch (err) {
    await service.cardFailed(key.card, err);
    throw err;
  }
}
