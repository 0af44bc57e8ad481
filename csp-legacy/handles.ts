/**
 * CryptoAPI handles: HCRYPTPROV (a context), HCRYPTKEY, HCRYPTHASH. Handles are objects an application
 * holds. advapi32 checks a handle before the CSP sees it, so a zero, foreign, released or wrong-kind
 * handle is ERROR_INVALID_PARAMETER, never an NTE code (reference C1); keys and hashes die with the
 * context that made them (CryptReleaseContext releases them too).
 */
import { CryptError } from '../minidriver/errors.js';
import type { SmartCardService } from '../smartcard/service.js';
import type { CardContainer, SmartCard } from '../smartcard/card.js';
import type { SpecLevel } from '../smartcard/container-spec.js';
import type { CspKey } from './key-model.js';
import type { HashState } from './hash-state.js';

export abstract class CryptHandle {
  /** Set by CryptReleaseContext / CryptDestroyKey / CryptDestroyHash; never valid again. */
  released = false;
  abstract readonly kind: 'prov' | 'key' | 'hash';
}

/** What CryptAcquireContext was asked for, and what it found. */
export interface ContextState {
  /** The provider name as given (null and '' mean MS_SCARD_PROV). */
  readonly providerName: string;
  readonly provType: number;
  /** The container name exactly as acquired (PP_CONTAINER returns it); null for the default container. */
  readonly containerName: string | null;
  readonly flags: number;
  readonly silent: boolean;
  /** CRYPT_MACHINE_KEYSET: container data is read from the card, not the caches. */
  readonly machine: boolean;
  /** CRYPT_VERIFYCONTEXT: public data only, never a PIN (A4). */
  readonly verifyOnly: boolean;
  /** The card the context is bound to (absent: CRYPT_VERIFYCONTEXT with no name). */
  card?: SmartCard;
  /** The container (absent: CRYPT_DEFAULT_CONTAINER_OPTIONAL without one, or VERIFYCONTEXT with no name). */
  container?: CardContainer;
  /** PP_PIN_PROMPT_STRING: the text shown with this context's PIN prompts. */
  pinPrompt?: string;
  /** The container specification level of the name acquired (I–IV, smartcard/container-spec.ts). */
  readonly level?: SpecLevel;
  /** Levels I and II: the reader the name qualifies. */
  readonly reader?: string;
  /** PP_ENUMCONTAINERS: the card's container names read at CRYPT_FIRST, and the position of the next. */
  enumContainers?: { names: string[]; next: number };
  /** PP_ENUMALGS / PP_ENUMALGS_EX: the position of the next algorithm of each enumeration. */
  enumAlgs?: number;
  enumAlgsEx?: number;
}

export class HCRYPTPROV extends CryptHandle {
  readonly kind = 'prov' as const;
  /** Keys and hashes made through this context: released with it (C1). */
  readonly children = new Set<HCRYPTKEY | HCRYPTHASH>();

  constructor(readonly service: SmartCardService, readonly context: ContextState) {
    super();
  }
}

export class HCRYPTKEY extends CryptHandle {
  readonly kind = 'key' as const;
  constructor(readonly prov: HCRYPTPROV, public key: CspKey) {
    super();
    prov.children.add(this);
  }
}

export class HCRYPTHASH extends CryptHandle {
  readonly kind = 'hash' as const;
  constructor(readonly prov: HCRYPTPROV, readonly hash: HashState) {
    super();
    prov.children.add(this);
  }
}

const KINDS = { prov: HCRYPTPROV, key: HCRYPTKEY, hash: HCRYPTHASH } as const;
type KindMap = { prov: HCRYPTPROV; key: HCRYPTKEY; hash: HCRYPTHASH };
const NAMES = { prov: 'HCRYPTPROV', key: 'HCRYPTKEY', hash: 'HCRYPTHASH' } as const;

/** The handle as the kind expected, or ERROR_INVALID_PARAMETER (C1): advapi32's check, before the CSP. */
export function useHandle<K extends keyof KindMap>(handle: unknown, kind: K, operation: string): KindMap[K] {
  const expected = NAMES[kind];
  if (!(handle instanceof KINDS[kind])) {
    const what = handle === null || handle === undefined || handle === 0 ? 'no handle' : handle instanceof CryptHandle ? `an ${NAMES[handle.kind]}` : 'not a CryptoAPI handle';
    throw new CryptError('ERROR_INVALID_PARAMETER', `${operation} needs an ${expected}, and got ${what}`, { operation });
  }
  const h = handle as KindMap[K];
  if (h.released) throw new CryptError('ERROR_INVALID_PARAMETER', `this ${expected} was released; acquire or create a new one`, { operation });
  if (!(h instanceof HCRYPTPROV) && (h as HCRYPTKEY | HCRYPTHASH).prov.released) {
    throw new CryptError('ERROR_INVALID_PARAMETER', `this ${expected} died with its context (CryptReleaseContext); acquire a new context`, { operation });
  }
  return h;
}
