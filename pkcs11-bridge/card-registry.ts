import { CardState } from './card-state.js';
import type { DispatchPolicy } from './dispatch.js';
import type { LoadedModule } from './module-registry.js';
import type { Pkcs11Handle, TokenInfo } from './pkcs11.js';
import { Token, type TokenIdentity } from './token.js';

/**
 * One CardState per token per process, shared by every driver and context on it. PKCS#11 login belongs
 * to the application, not to a session or a driver: two drivers on one token must see the same login
 * state, the same key handles and the same container map, or one of them would take another's
 * CKR_USER_ALREADY_LOGGED_IN for a verified PIN.
 */
interface Entry {
  state: CardState;
  references: number;
}

const entries = new Map<string, Entry>();

function keyOf(module: LoadedModule, identity: TokenIdentity): string {
  return `${module.path}\u0000${identity.serial}\u0000${identity.label}`;
}

export interface CardStateOptions {
  maxContainers: number;
  dispatch?: DispatchPolicy;
}

/** The shared state of a token, opened (sessions, file system) on first use. */
export function acquireCardState(module: LoadedModule, identity: TokenIdentity, slot: Pkcs11Handle, info: () => TokenInfo, options: CardStateOptions, operation: string): CardState {
  const key = keyOf(module, identity);
  const existing = entries.get(key);
  if (existing && !existing.state.token.isClosed) {
    existing.references++;
    return existing.state;
  }
  const token = new Token(module, slot, info(), options.dispatch);
  const state = new CardState(token, options.maxContainers);
  try {
    token.sync(operation, (s) => state.initialise(s));
  } catch (err) {
    token.close();
    throw err;
  }
  entries.set(key, { state, references: 1 });
  return state;
}

/** Drops a reference; the last one closes the token's sessions. */
export function releaseCardState(state: CardState): void {
  for (const [key, entry] of entries) {
    if (entry.state !== state) continue;
    if (--entry.references === 0) {
      entries.delete(key);
      state.token.close();
    }
    return;
  }
}
