/**
 * The target's card as the smart card service holds it, for the cases that must change what the
 * service remembers: "silent without a PIN" needs the cached PIN gone and the card logged out, the way
 * a fresh process finds it.
 */
import { ROLE_USER } from '../../minidriver/constants.js';
import { pinCacheCard } from '../../smartcard/authentication.js';
import type { SmartCard } from '../../smartcard/card.js';
import type { CaseContext } from '../case.js';

export async function targetCard(ctx: CaseContext): Promise<SmartCard> {
  const entry = (await ctx.service.snapshot()).find((e) => e.szReader === ctx.target.reader && e.card);
  if (!entry) throw new Error(`the target's reader "${ctx.target.reader}" holds no card`);
  return ctx.service.cardIn(entry);
}

/**
 * Drops the user PIN the service cached for the target's card and logs the card out. The next call
 * that needs the PIN asks the UI (which the runner answers) unless it is silent.
 */
export async function forgetPin(ctx: CaseContext): Promise<void> {
  const card = await targetCard(ctx);
  ctx.service.pins.drop(pinCacheCard(card));
  await card.deauthenticate(ROLE_USER);
}
