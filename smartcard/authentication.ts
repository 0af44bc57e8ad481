/**
 * Authentication around private-key work, with the PIN cache and the UI, under the card's PIN cache
 * policy (PIN_INFO.PinCachePolicy), as the Base CSP does it:
 *
 *  - Normal: a PIN the card accepted is cached for the process and reused; the card stays
 *    authenticated between operations (PKCS#11's login is per application, so no other process
 *    gains from it).
 *  - Timed: as Normal until the cached PIN expires; then the card is deauthenticated and the PIN asked
 *    again.
 *  - None: the PIN is verified and never cached; the card is authenticated only around the operation.
 *  - AlwaysPrompt: the UI is asked before every private-key use (silent contexts fail); presenting a
 *    PIN through a property is accepted without verification; the card is deauthenticated afterwards.
 *
 * Where a PIN comes from: the PIN cache, else the UI (asked again after a wrong PIN, with the tries
 * left). A wrong PIN is never cached, and a cached PIN the card refuses (changed elsewhere) is dropped.
 * Plaintext PIN bytes live only between the cache or the prompt and the card, and are wiped at once.
 */
import { PinCacheAlwaysPrompt, PinCacheNone, PinCacheTimed } from '../minidriver/constants.js';
import { CryptError } from '../minidriver/errors.js';
import type { PinCachePolicy } from '../minidriver/structures.js';
import { wipe } from '../native/index.js';
import type { SmartCard } from './card.js';
import type { PinCache } from './pin-cache.js';
import type { Interaction } from './ui.js';

/** How many wrong PINs one prompt sequence accepts before giving up (the card counts too). */
const MAX_PROMPTS = 5;

export interface AuthenticationContext {
  card: SmartCard;
  pins: PinCache;
  interaction: Interaction;
  pinId: number;
  /** Container whose key the PIN unlocks (for the prompt and messages). */
  container?: string;
  operation: string;
  /** Read PIN_INFO from the card, not the cache (CRYPT_MACHINE_KEYSET). */
  noCache?: boolean;
  /** Text for the PIN prompt (NCRYPT_PIN_PROMPT_PROPERTY). */
  pinPrompt?: string;
}

/** The PIN cache's key for a card: its identity, which the removal event carries too. */
export function pinCacheCard(card: { identity: { serial: string; label: string } }): string {
  return JSON.stringify([card.identity.serial, card.identity.label]);
}

function notAuthenticated(err: unknown): boolean {
  return err instanceof CryptError && (err.codeName === 'SCARD_W_SECURITY_VIOLATION' || err.codeName === 'SCARD_W_CARD_NOT_AUTHENTICATED');
}

function wrongPin(err: unknown): err is CryptError {
  return err instanceof CryptError && err.codeName === 'SCARD_W_WRONG_CHV';
}

async function policyOf(ctx: AuthenticationContext): Promise<PinCachePolicy> {
  return (await ctx.card.pinInfo(ctx.pinId, ctx.noCache)).PinCachePolicy;
}

/** Presents the cached PIN. True when the card accepted it; a refused cached PIN is dropped. */
async function presentCached(ctx: AuthenticationContext): Promise<boolean> {
  const key = pinCacheCard(ctx.card);
  const pin = ctx.pins.get(key, ctx.pinId);
  if (!pin) return false;
  try {
    await ctx.card.authenticate(ctx.pinId, pin);
    return true;
  } catch (err) {
    if (!wrongPin(err)) throw err;
    ctx.pins.drop(key, ctx.pinId); // changed elsewhere: ask the person instead
    return false;
  } finally {
    wipe(pin);
  }
}

/** Asks the UI until the card accepts a PIN (or the person cancels, or the PIN blocks). */
async function prompt(ctx: AuthenticationContext, policy: PinCachePolicy): Promise<void> {
  let retry = false;
  let attemptsRemaining: number | undefined;
  for (let n = 0; n < MAX_PROMPTS; n++) {
    const pin = await ctx.interaction.promptPin({
      szReader: ctx.card.szReader, card: ctx.card.identity, pinId: ctx.pinId,
      ...(ctx.container !== undefined ? { container: ctx.container } : {}),
      ...(ctx.pinPrompt !== undefined ? { prompt: ctx.pinPrompt } : {}),
      ...(attemptsRemaining !== undefined ? { attemptsRemaining } : {}), retry,
    }, ctx.operation);
    try {
      await ctx.card.authenticate(ctx.pinId, pin);
      ctx.pins.putVerified(pinCacheCard(ctx.card), ctx.pinId, pin, policy);
      return;
    } catch (err) {
      if (!wrongPin(err)) throw err;
      retry = true;
      attemptsRemaining = err.attemptsRemaining;
      if (attemptsRemaining === 0) throw err;
    } finally {
      wipe(pin);
    }
  }
  throw new CryptError('SCARD_W_WRONG_CHV', `the PIN was wrong ${MAX_PROMPTS} times; check it before trying again, the card may block it`, { operation: ctx.operation, card: ctx.card.identity.label });
}

/** Authenticates the card for ctx.pinId now, from the cache when the policy allows, else the UI. */
export async function authenticate(ctx: AuthenticationContext, policy?: PinCachePolicy): Promise<void> {
  const p = policy ?? await policyOf(ctx);
  const type = p.PinCachePolicyType;
  if (type !== PinCacheAlwaysPrompt && type !== PinCacheNone && await presentCached(ctx)) return;
  await prompt(ctx, p);
}

/**
 * Presents a PIN the application supplied (PP_KEYEXCHANGE_PIN, NCRYPT_PIN_PROPERTY): verified on the
 * card and cached under the policy. Wrong → SCARD_W_WRONG_CHV with the tries left (never cached).
 * AlwaysPrompt cards take it without verifying, as the Base CSP does: the UI will be asked at use.
 */
export async function presentPin(ctx: AuthenticationContext, pin: Uint8Array): Promise<void> {
  const policy = await policyOf(ctx);
  if (policy.PinCachePolicyType === PinCacheAlwaysPrompt) return;
  await ctx.card.authenticate(ctx.pinId, pin);
  ctx.pins.putVerified(pinCacheCard(ctx.card), ctx.pinId, pin, policy);
}

/**
 * Container creation is never silent unless the PIN is already cached (the Windows rule: creating a
 * key must be able to ask for the PIN). NTE_SILENT_CONTEXT otherwise, before anything is written.
 */
export function assertCreateAllowed(ctx: AuthenticationContext): void {
  if (!ctx.interaction.silent || ctx.pins.has(pinCacheCard(ctx.card), ctx.pinId)) return;
  throw new CryptError('NTE_SILENT_CONTEXT', 'a container cannot be created in a silent context unless the PIN is cached: set the PIN first (PP_KEYEXCHANGE_PIN / NCRYPT_PIN_PROPERTY) or open a non-silent context', { operation: ctx.operation, card: ctx.card.identity.label, ...(ctx.container !== undefined ? { container: ctx.container } : {}) });
}

/**
 * Runs a private-key operation with the card authenticated as the policy asks. Under Normal/Timed an
 * operation is tried on the card's current authentication first (a warm signature costs no extra
 * card call); if the card turns out not authenticated (another library logged out) it authenticates
 * and retries once. Under None/AlwaysPrompt it authenticates before and deauthenticates after.
 */
export async function withAuthentication<T>(ctx: AuthenticationContext, op: () => Promise<T>): Promise<T> {
  const policy = await policyOf(ctx);
  const type = policy.PinCachePolicyType;
  if (type === PinCacheNone || type === PinCacheAlwaysPrompt) {
    await authenticate(ctx, policy);
    try {
      return await op();
    } finally {
      await ctx.card.deauthenticate(ctx.pinId).catch(() => undefined);
    }
  }
  const key = pinCacheCard(ctx.card);
  if (type === PinCacheTimed && !ctx.pins.has(key, ctx.pinId) && await ctx.card.isAuthenticated(ctx.pinId)) {
    // The cached PIN expired: the card must not stay authenticated past the policy's time.
    await ctx.card.deauthenticate(ctx.pinId).catch(() => undefined);
  }
  if (!await ctx.card.isAuthenticated(ctx.pinId)) await authenticate(ctx, policy);
  try {
    return await op();
  } catch (err) {
    if (!notAuthenticated(err)) throw err;
    await authenticate(ctx, policy);
    return op();
  }
}
