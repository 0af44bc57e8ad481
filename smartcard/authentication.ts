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
 *
 * The warm path (authenticatedWarm): under Normal/Timed, once this process knows the card holds the
 * PIN's authentication, private-key work goes to the card with no call and no await before it.
 */
import { CARD_DATA_VALUE_UNKNOWN, PinCacheAlwaysPrompt, PinCacheNone, PinCacheNormal, PinCacheTimed } from '../minidriver/constants.js';
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

/**
 * Whether a card refused work for want of authentication (SCARD_W_CARD_NOT_AUTHENTICATED; the PKCS#11
 * bridge answers CKR_USER_NOT_LOGGED_IN with SCARD_W_SECURITY_VIOLATION).
 */
export function notAuthenticated(err: unknown): boolean {
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
      if (err.attemptsRemaining === 0) throw err;
      // The prompt shows the tries left only when the card says (PKCS#11 cards say so only at the final try).
      attemptsRemaining = err.attemptsRemaining === CARD_DATA_VALUE_UNKNOWN ? undefined : err.attemptsRemaining;
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
 * Whether private-key work for `pinId` may go straight to the card: the warm path, decided without a
 * card call or an await. Yes only when all of these hold:
 *  - the card is present and its PIN_INFO is held (read once per card; a card's PIN cache policy does
 *    not change while it stays in the reader, and a removed card holds nothing — so a removed card,
 *    or a noCache context, always takes the full path, which reports the removal);
 *  - the policy is Normal, or Timed with the cached PIN not yet expired (an expired one must end the
 *    card's authentication: the full path does that). None and AlwaysPrompt never qualify;
 *  - this process saw the card accept the PIN or report it authenticated, and nothing since dropped
 *    it (SmartCard.knownAuthenticatedFor): then the full path's Authenticated State check would say
 *    yes too, unless the card's state changed behind this card object (another library or context
 *    logged out, the token reset) — and then the card refuses the work, and warmFailed runs the full
 *    path (PIN from the cache, else the UI unless silent) and the work once more.
 * Nothing is skipped that the full path would do on a warm card: it too runs the work on the card's
 * current authentication, without a PIN.
 */
export function authenticatedWarm(card: SmartCard, pins: PinCache, pinId: number): boolean {
  if (!card.knownAuthenticatedFor(pinId)) return false;
  const type = card.heldPinInfo(pinId)?.PinCachePolicy.PinCachePolicyType;
  return type === PinCacheNormal || (type === PinCacheTimed && pins.has(pinCacheCard(card), pinId));
}

/**
 * The warm path's fallback: the card refused `op` for want of authentication although this process
 * thought it authenticated. It authenticates as the policy says (cached PIN, else the UI unless the
 * context is silent) and runs `op` once more; any other failure is rethrown as it is.
 */
export async function warmFailed<T>(ctx: AuthenticationContext, err: unknown, op: () => Promise<T>): Promise<T> {
  if (!notAuthenticated(err)) throw err;
  ctx.card.authenticationLost(ctx.pinId);
  await authenticate(ctx);
  return op();
}

/**
 * Runs a private-key operation with the card authenticated as the policy asks. Under Normal/Timed an
 * operation is tried on the card's current authentication first (a warm signature costs no extra
 * card call; authenticatedWarm skips even the policy and Authenticated State look-ups when this
 * process knows the answer); if the card turns out not authenticated (another library logged out) it
 * authenticates and retries once. Under None/AlwaysPrompt it authenticates before and deauthenticates
 * after.
 */
export async function withAuthentication<T>(ctx: AuthenticationContext, op: () => Promise<T>): Promise<T> {
  if (!ctx.noCache && authenticatedWarm(ctx.card, ctx.pins, ctx.pinId)) {
    try {
      return await op();
    } catch (err) {
      return warmFailed(ctx, err, op);
    }
  }
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
    ctx.card.authenticationLost(ctx.pinId);
    await authenticate(ctx, policy);
    return op();
  }
}
