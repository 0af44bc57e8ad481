/**
 * A secret agreement (NCryptSecretAgreement's result): the card holds the agreed secret under an
 * agreement index; NCryptDeriveKey asks the card to derive from it; freeing the handle destroys it
 * on the card (CardDestroyDHAgreement).
 */
import type { PersistedKey } from './key-model.js';

export interface AgreedSecret {
  key: PersistedKey;
  /** bSecretAgreementIndex on the card. */
  agreementIndex: number;
  /** Set once CardDestroyDHAgreement ran (free, or the card went away). */
  destroyed: boolean;
}

/** Destroys the agreement on the card once; a card already gone has nothing left to destroy. */
export async function destroySecret(secret: AgreedSecret): Promise<void> {
  if (secret.destroyed) return;
  secret.destroyed = true;
  await secret.key.card.module.CardDestroyDHAgreement(secret.agreementIndex).catch(() => undefined);
}
