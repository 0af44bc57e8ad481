import { CryptError } from '../minidriver/errors.js';
import type { CardState } from './card-state.js';

/** Why a binding no longer leads to its card. */
type Ended = 'driver-closed' | 'card-released';

/**
 * One driver's hold on a card's shared state (card-registry), from the driver's first context on the
 * card until the driver closes or the card is released. Every context the driver hands out for the
 * card shares it and checks it before each entry point, so ending it stops all of them at once: after
 * a removal none of them goes on with sessions and a login of a card that is gone. A context acquired
 * later gets a new binding, so ending one never reaches contexts on the reinserted card.
 */
export class CardBinding {
  private ended: Ended | undefined;

  constructor(readonly state: CardState) {}

  /** The driver was closed: its contexts answer SCARD_E_NO_SERVICE. */
  driverClosed(): void {
    this.ended ??= 'driver-closed';
  }

  /** The card was removed (releaseCard): its contexts answer SCARD_W_REMOVED_CARD. */
  cardReleased(): void {
    this.ended ??= 'card-released';
  }

  /**
   * Throws unless the card can still be used through this binding. A token closed under the binding
   * (its removal was seen by a failing call, see card-removal.ts) counts as a released card.
   */
  assertBound(operation: string): void {
    const card = this.state.name;
    if (this.ended === 'driver-closed') {
      throw new CryptError('SCARD_E_NO_SERVICE', 'the driver of this context was closed; open a new driver and context', { operation, card });
    }
    if (this.ended === 'card-released' || this.state.token.isClosed) {
      throw new CryptError('SCARD_W_REMOVED_CARD', 'the card was removed; insert it again and open a new context', { operation, card });
    }
  }
}
