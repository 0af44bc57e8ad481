/**
 * PLACEHOLDER (interface only): the session-key helper replaces this file with the implementation.
 * Symmetric session keys (AES-128/192/256, 3DES, 3DES_112) in host memory, with CryptoAPI's key
 * parameters and CryptEncrypt/CryptDecrypt block semantics (reference §1.4, K3, K4, X1–X3, X5).
 */
export interface SessionKey {
  /** CALG_AES_128, CALG_AES_192, CALG_AES_256, CALG_3DES, CALG_3DES_112. */
  readonly algId: number;
  /** KP_KEYLEN in bits (3DES: 192, 3DES_112: 128, as Windows reports them). */
  readonly bits: number;
  /** KP_BLOCKLEN in bits (AES 128, 3DES 64). */
  readonly blockBits: number;
  /** Made or imported with CRYPT_EXPORTABLE. */
  readonly exportable: boolean;
  /** KP_IV, KP_MODE, KP_PADDING, KP_PERMISSIONS, KP_ALGID, KP_KEYLEN, KP_BLOCKLEN, KP_EFFECTIVE_KEYLEN...; NTE_BAD_TYPE for others. */
  getParam(param: number): Buffer | number;
  setParam(param: number, value: Uint8Array | number): void;
  /** CryptEncrypt for this key (X1–X3, X5 rules; `flags` already checked by the caller? no: checked here). */
  encrypt(data: Uint8Array, final: boolean, flags: number): Buffer;
  decrypt(data: Uint8Array, final: boolean, flags: number): Buffer;
  /** The raw key bytes (a copy the caller wipes): for SIMPLEBLOB / PLAINTEXTKEYBLOB export. */
  keyBytes(): Buffer;
  /** Wipes the key (CryptDestroyKey, context release). */
  destroy(): void;
}
