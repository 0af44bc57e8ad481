import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { PinCacheAlwaysPrompt, PinCacheNone, PinCacheNormal, PinCacheTimed } from '../minidriver/constants.js';
import { CryptError } from '../minidriver/errors.js';
import type { PinCachePolicy } from '../minidriver/structures.js';
import { allocateSecure, type SecureBuffer, wipe } from '../native/index.js';

/**
 * The per-process PIN cache (the Base CSP's, as the Windows smart card architecture describes it):
 * a PIN presented once and accepted by the card is reused for that card until its policy says
 * otherwise. Each PIN is held encrypted (AES-256-GCM under a per-process key) in memory from the native
 * addon: mlock'ed, excluded from core dumps, wiped with explicit_bzero when freed. The key lives in
 * such memory too. Plaintext copies exist only for the moment a PIN is stored or handed out, and are
 * wiped by this module (stored) or by the caller (handed out).
 */
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** PINs are short; a bound keeps one entry in one page and refuses nonsense early. */
const MAX_PIN_BYTES = 256;

interface Entry {
  /** iv ‖ tag ‖ ciphertext, in secure memory. */
  sealed: SecureBuffer;
  length: number;
  /** Date.now() after which the entry is void (PinCacheTimed), or Infinity. */
  expires: number;
}

export class PinCache {
  private key: SecureBuffer | undefined;
  private readonly entries = new Map<string, Entry>();

  /** `now` is injectable so timed expiry can be tested without waiting. */
  constructor(private readonly now: () => number = Date.now) {}

  private static slot(card: string, pinId: number): string {
    return `${card}\u0000${pinId}`;
  }

  private processKey(): Buffer {
    if (!this.key) {
      this.key = allocateSecure(KEY_BYTES);
      const fresh = randomBytes(KEY_BYTES);
      this.key.write(0, fresh);
      wipe(fresh);
    }
    return this.key.read(0, KEY_BYTES);
  }

  /**
   * Caches a PIN the card has just accepted (never call it with a PIN that failed: a wrong PIN is not
   * cached). Policies None and AlwaysPrompt cache nothing; Timed expires after dwPinCachePolicyInfo s.
   */
  putVerified(card: string, pinId: number, pin: Uint8Array, policy: PinCachePolicy): void {
    if (pin.length === 0 || pin.length > MAX_PIN_BYTES) throw new CryptError('SCARD_E_INVALID_CHV', `a PIN is 1..${MAX_PIN_BYTES} bytes`, { operation: 'PinCache' });
    this.drop(card, pinId);
    const type = policy.PinCachePolicyType;
    if (type === PinCacheNone || type === PinCacheAlwaysPrompt) return;
    if (type !== PinCacheNormal && type !== PinCacheTimed) throw new CryptError('SCARD_E_INVALID_PARAMETER', `unknown PIN cache policy ${type}`, { operation: 'PinCache' });
    const expires = type === PinCacheTimed ? this.now() + policy.dwPinCachePolicyInfo * 1000 : Infinity;

    const key = this.processKey();
    const iv = randomBytes(IV_BYTES);
    try {
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      const ciphertext = Buffer.concat([cipher.update(pin), cipher.final()]);
      const sealed = allocateSecure(IV_BYTES + TAG_BYTES + ciphertext.length);
      sealed.write(0, iv);
      sealed.write(IV_BYTES, cipher.getAuthTag());
      sealed.write(IV_BYTES + TAG_BYTES, ciphertext);
      this.entries.set(PinCache.slot(card, pinId), { sealed, length: ciphertext.length, expires });
    } finally {
      wipe(key);
    }
  }

  /**
   * The cached PIN, or undefined (not cached, or expired — an expired entry is freed). The caller owns
   * the returned Buffer and must wipe it (native `wipe`) once the card has it.
   */
  get(card: string, pinId: number): Buffer | undefined {
    const slot = PinCache.slot(card, pinId);
    const entry = this.entries.get(slot);
    if (!entry) return undefined;
    if (this.now() >= entry.expires) {
      this.drop(card, pinId);
      return undefined;
    }
    const key = this.processKey();
    const sealed = entry.sealed.read(0, IV_BYTES + TAG_BYTES + entry.length);
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, IV_BYTES));
      decipher.setAuthTag(sealed.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
      return Buffer.concat([decipher.update(sealed.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]);
    } finally {
      wipe(key);
      wipe(sealed);
    }
  }

  has(card: string, pinId: number): boolean {
    const entry = this.entries.get(PinCache.slot(card, pinId));
    return entry !== undefined && this.now() < entry.expires;
  }

  /** Forgets one PIN of a card, or all its PINs (removal, serial change, deauthentication). */
  drop(card: string, pinId?: number): void {
    for (const [slot, entry] of this.entries) {
      const [c, id] = slot.split('\u0000');
      if (c !== card || (pinId !== undefined && Number(id) !== pinId)) continue;
      entry.sealed.free(); // wipes before unmapping
      this.entries.delete(slot);
    }
  }

  /** Forgets everything, the process key included. */
  clear(): void {
    for (const entry of this.entries.values()) entry.sealed.free();
    this.entries.clear();
    this.key?.free();
    this.key = undefined;
  }

  /** Number of PINs held (for diagnostics; never the PINs). */
  get size(): number {
    return this.entries.size;
  }
}
