/**
 * NCRYPT_HANDLE kinds: provider, key, secret. Handles are objects an application holds; freeing one
 * (NCryptFreeObject, or NCryptDeleteKey for a key) makes every later use NTE_INVALID_HANDLE, as does
 * passing a handle of the wrong kind, null, or anything that is not one of ours (reference N1, N13).
 */
import { CryptError } from '../minidriver/errors.js';
import { allocateSecure, type SecureBuffer } from '../native/index.js';
import type { SmartCardService } from '../smartcard/service.js';
import type { KeyState } from './key-model.js';
import type { AgreedSecret } from './secret.js';

export abstract class NCryptHandle {
  /** Set by NCryptFreeObject / NCryptDeleteKey; a freed handle is never valid again. */
  freed = false;
  abstract readonly kind: 'provider' | 'key' | 'secret';
}

export class NCryptProvHandle extends NCryptHandle {
  readonly kind = 'provider' as const;
  /** NCRYPT_PIN_PROMPT_PROPERTY: the text shown with PIN prompts for this provider's keys. */
  pinPrompt: string | undefined;
  /** NCRYPT_PIN_PROPERTY set on the provider: held in secure memory until a key's card takes it. */
  private pin: { buffer: SecureBuffer; length: number } | undefined;

  constructor(
    readonly service: SmartCardService,
    /** The provider name it was opened with (MS_SMART_CARD_KEY_STORAGE_PROVIDER). */
    readonly name: string,
  ) {
    super();
  }

  /** Keeps a PIN for the next card a key of this provider authenticates to (replacing any earlier one). */
  setPin(pin: Uint8Array): void {
    this.dropPin();
    const buffer = allocateSecure(Math.max(1, pin.length));
    buffer.write(0, pin);
    this.pin = { buffer, length: pin.length };
  }

  /** Whether NCRYPT_PIN_PROPERTY holds a PIN waiting to be presented. */
  get pinWaiting(): boolean {
    return this.pin !== undefined;
  }

  /** The held PIN, handed over once (the caller wipes it); undefined when none is held. */
  takePin(): Buffer | undefined {
    if (!this.pin) return undefined;
    const bytes = this.pin.buffer.read(0, this.pin.length);
    this.dropPin();
    return bytes;
  }

  dropPin(): void {
    this.pin?.buffer.free();
    this.pin = undefined;
  }
}

export class NCryptKeyHandle extends NCryptHandle {
  readonly kind = 'key' as const;
  constructor(readonly provider: NCryptProvHandle, public state: KeyState) {
    super();
  }
}

export class NCryptSecretHandle extends NCryptHandle {
  readonly kind = 'secret' as const;
  constructor(readonly provider: NCryptProvHandle, readonly secret: AgreedSecret) {
    super();
  }
}

const KINDS = { provider: NCryptProvHandle, key: NCryptKeyHandle, secret: NCryptSecretHandle } as const;
type KindMap = { provider: NCryptProvHandle; key: NCryptKeyHandle; secret: NCryptSecretHandle };

/** The handle as the kind expected, or NTE_INVALID_HANDLE. */
export function useHandle<K extends keyof KindMap>(handle: unknown, kind: K, operation: string): KindMap[K] {
  if (!(handle instanceof KINDS[kind])) {
    const what = handle === null || handle === undefined ? 'no handle' : handle instanceof NCryptHandle ? `a ${handle.kind} handle` : 'not an NCrypt handle';
    throw new CryptError('NTE_INVALID_HANDLE', `${operation} needs a ${kind} handle, and got ${what}`, { operation });
  }
  const h = handle as KindMap[K];
  if (h.freed) throw new CryptError('NTE_INVALID_HANDLE', `this ${kind} handle was freed; open a new one`, { operation });
  // A key or secret stays usable after its provider handle is freed: Windows keeps the provider
  // referenced by its keys, and here the card service is the process's, not the handle's.
  return h;
}

/** Any live NCrypt handle (NCryptGetProperty / NCryptSetProperty / NCryptFreeObject take all kinds). */
export function useAnyHandle(handle: unknown, operation: string): NCryptProvHandle | NCryptKeyHandle | NCryptSecretHandle {
  if (handle instanceof NCryptProvHandle) return useHandle(handle, 'provider', operation);
  if (handle instanceof NCryptKeyHandle) return useHandle(handle, 'key', operation);
  if (handle instanceof NCryptSecretHandle) return useHandle(handle, 'secret', operation);
  throw new CryptError('NTE_INVALID_HANDLE', `${operation} needs an NCrypt handle`, { operation });
}
