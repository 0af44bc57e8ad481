/**
 * How a context reaches its card: private-key work runs authenticated under the card's PIN cache
 * policy (smartcard/authentication.ts), through the UI unless the context is CRYPT_SILENT; a
 * CRYPT_VERIFYCONTEXT context never authenticates (public data only, reference A4); a removed card is
 * reported to the service so its state and PINs go at once.
 *
 * The warm path (as CNG's, ksp/key-access.ts): when this process knows the card holds the user PIN's
 * authentication under a Normal/Timed policy (authenticatedWarm), private-key work — CryptSignHash,
 * CryptDecrypt with a card key, SIMPLEBLOB import — goes to the card at once: no authentication
 * context is built and no PIN_INFO or Authenticated State look-up is made unless the card refuses.
 */
import { ROLE_USER } from '../minidriver/constants.js';
import { CryptError } from '../minidriver/errors.js';
import { type AuthenticationContext, authenticatedWarm, warmFailed, withAuthentication } from '../smartcard/authentication.js';
import type { CardContainer, SmartCard } from '../smartcard/card.js';
import { Interaction } from '../smartcard/ui.js';
import type { HCRYPTPROV } from './handles.js';

/** An Interaction holds nothing but its silence: one of each serves every context. */
const INTERACTIVE = new Interaction(false);
const SILENT = new Interaction(true);

/** The authentication context of card work done through a CryptoAPI context (the user PIN: ROLE_USER). */
export function authenticationContext(prov: HCRYPTPROV, card: SmartCard, operation: string): AuthenticationContext {
  const { context } = prov;
  return {
    card,
    pins: prov.service.pins,
    interaction: context.silent ? SILENT : INTERACTIVE,
    pinId: ROLE_USER,
    operation,
    noCache: context.machine,
    ...(context.container ? { container: context.container.name } : {}),
    ...(context.pinPrompt !== undefined ? { pinPrompt: context.pinPrompt } : {}),
  };
}

/** The card and container of a context that must have both (key work); NTE_BAD_KEYSET otherwise. */
export function boundContainer(prov: HCRYPTPROV, operation: string): { card: SmartCard; container: CardContainer } {
  const { card, container } = prov.context;
  if (!card || !container) {
    throw new CryptError('NTE_BAD_KEYSET', 'this context has no key container (CRYPT_VERIFYCONTEXT or CRYPT_DEFAULT_CONTAINER_OPTIONAL without one); acquire the context with a container name', { operation });
  }
  return { card, container };
}

/**
 * Private-key work: on the warm path straight to the card, else authenticated as the policy says. A
 * CRYPT_MACHINE_KEYSET context reads PIN_INFO from the card (no cached data), so it is never warm.
 */
async function privateWork<T>(prov: HCRYPTPROV, card: SmartCard, operation: string, work: () => Promise<T>): Promise<T> {
  if (!prov.context.machine && authenticatedWarm(card, prov.service.pins, ROLE_USER)) {
    try {
      return await work();
    } catch (err) {
      // Refused for want of authentication (another library logged out): the full path, then once more.
      return await warmFailed(authenticationContext(prov, card, operation), err, work);
    }
  }
  return await withAuthentication(authenticationContext(prov, card, operation), work);
}

/**
 * Runs card work for a context. Private work (sign, decrypt, key generation, writes) runs
 * authenticated; public work does not. A CRYPT_VERIFYCONTEXT context refuses private work with
 * NTE_PERM (Windows leaves the code undocumented, reference §6). Failures are reported to the
 * service, which tells a removed card from any other error.
 */
export async function onCard<T>(prov: HCRYPTPROV, card: SmartCard, operation: string, needsPin: boolean, work: () => Promise<T>): Promise<T> {
  if (needsPin && prov.context.verifyOnly) {
    throw new CryptError('NTE_PERM', 'the context was acquired with CRYPT_VERIFYCONTEXT, which gives public data only; acquire it without that flag to use the private key', { operation, card: card.identity.label });
  }
  try {
    return needsPin ? await privateWork(prov, card, operation, work) : await work();
  } catch (err) {
    await prov.service.cardFailed(card, err);
    throw err;
  }
}
