/**
 * PLACEHOLDER (interface only): the hash helper replaces this file with the implementation.
 * A CryptoAPI hash object: MD5, SHA-1, SHA-256/384/512, CALG_SSL3_SHAMD5 (reference H1–H4, §1.5).
 */
export interface HashState {
  /** HP_ALGID. */
  readonly algId: number;
  /** HP_HASHSIZE in bytes. */
  readonly size: number;
  /** True once the value was read (HP_HASHVAL), set, or the hash was signed. */
  readonly finished: boolean;
  /** CryptHashData: NTE_BAD_HASH_STATE once finished, NTE_BAD_FLAGS for flags other than 0/CRYPT_USERDATA, NTE_BAD_ALGID for SSL3_SHAMD5. */
  update(data: Uint8Array, flags: number): void;
  /** HP_HASHVAL: finishes the hash and returns its value (the same value on every later call). */
  value(): Buffer;
  /** Setting HP_HASHVAL: the value to sign, exactly `size` bytes (else NTE_BAD_LEN? see the implementation). */
  setValue(value: Uint8Array): void;
}
