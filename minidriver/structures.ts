/**
 * The minidriver specification's structures as TypeScript types. Driver-allocated out-buffers become
 * return values; fields keep their Windows names so code ports line by line.
 */

/** CARD_CAPABILITIES. */
export interface CardCapabilities {
  dwVersion: number;
  /** TRUE: the driver compresses certificate files itself; FALSE: the CSP/KSP does. */
  fCertificateCompression: boolean;
  fKeyGen: boolean;
}

/** CONTAINER_INFO: public keys of a container as blobs (PUBLICKEYBLOB or BCRYPT_ECCKEY_BLOB). */
export interface ContainerInfo {
  dwVersion: number;
  /** Signature key public blob, or null when the container has none. */
  pbSigPublicKey: Buffer | null;
  /** Key-exchange key public blob, or null when the container has none. */
  pbKeyExPublicKey: Buffer | null;
}

/** CARD_FREE_SPACE_INFO. CARD_DATA_VALUE_UNKNOWN where the card cannot tell. */
export interface CardFreeSpaceInfo {
  dwVersion: number;
  dwBytesAvailable: number;
  dwKeyContainersAvailable: number;
  dwMaxKeyContainers: number;
}

/** CARD_KEY_SIZES (bits). */
export interface CardKeySizes {
  dwVersion: number;
  dwMinimumBitlen: number;
  dwDefaultBitlen: number;
  dwMaximumBitlen: number;
  dwIncrementalBitlen: number;
}

/** CARD_FILE_INFO. */
export interface CardFileInfo {
  dwVersion: number;
  cbFileSize: number;
  AccessCondition: number;
}

/** BCRYPT_PKCS1_PADDING_INFO / BCRYPT_PSS_PADDING_INFO / BCRYPT_OAEP_PADDING_INFO. */
export interface PaddingInfo {
  /** CNG hash algorithm id ('SHA256'...), null for PKCS#1 without DigestInfo. */
  pszAlgId: string | null;
  /** PSS salt length in bytes. */
  cbSalt?: number;
  /** OAEP label. */
  pbLabel?: Uint8Array;
}

/** CARD_SIGNING_INFO. The signature comes back as the result of CardSignData. */
export interface CardSigningInfo {
  dwVersion: number;
  bContainerIndex: number;
  dwKeySpec: number;
  dwSigningFlags: number;
  /** Hash ALG_ID; 0 with no padding info means raw data is signed as given. */
  aiHashAlg: number;
  pbData: Uint8Array;
  /** Out: the signature length (also set with CARD_BUFFER_SIZE_ONLY, when no signature is made). */
  cbSignedData?: number;
  pPaddingInfo?: PaddingInfo | null;
  dwPaddingType?: number;
}

/** CARD_RSA_DECRYPT_INFO. pbData is the ciphertext, little-endian, modulus length. */
export interface CardRsaDecryptInfo {
  dwVersion: number;
  bContainerIndex: number;
  dwKeySpec: number;
  pbData: Uint8Array;
  pPaddingInfo?: PaddingInfo | null;
  dwPaddingType?: number;
}

/** CARD_DH_AGREEMENT_INFO. pbPublicKey is a BCRYPT_ECCKEY_BLOB (public). */
export interface CardDhAgreementInfo {
  dwVersion: number;
  bContainerIndex: number;
  dwFlags: number;
  pbPublicKey: Uint8Array;
}

/** One NCryptBuffer of a KDF parameter list. */
export interface KdfParameter {
  /** KDF_* buffer type. */
  type: number;
  value: Uint8Array | string;
}

/** CARD_DERIVE_KEY. The derived key comes back as the result of CardDeriveKey. */
export interface CardDeriveKey {
  dwVersion: number;
  dwFlags: number;
  /** BCRYPT_KDF_HASH, BCRYPT_KDF_HMAC, BCRYPT_KDF_SP80056A_CONCAT, BCRYPT_KDF_RAW_SECRET, TRUNCATE. */
  pwszKDF: string;
  bSecretAgreementIndex: number;
  pParameterList: KdfParameter[] | null;
  pwszAlgId?: string | null;
  /** Bytes wanted (SP800-56A and truncation); 0 = the KDF's natural length. */
  dwKeyLen?: number;
}

/** PIN_CACHE_POLICY. */
export interface PinCachePolicy {
  dwVersion: number;
  PinCachePolicyType: number;
  /** Seconds, for PinCacheTimed. */
  dwPinCachePolicyInfo: number;
}

/** PIN_INFO. */
export interface PinInfo {
  dwVersion: number;
  PinType: number;
  PinPurpose: number;
  dwChangePermission: number;
  dwUnblockPermission: number;
  PinCachePolicy: PinCachePolicy;
  dwFlags: number;
}

/** Values of the card properties, by property name. */
export interface CardPropertyValues {
  'Free Space': CardFreeSpaceInfo;
  'Capabilities': CardCapabilities;
  'Key Sizes': CardKeySizes;
  'Read Only Mode': boolean;
  'Cache Mode': number;
  'Supports Windows x.509 Enrollment': boolean;
  'Card Identifier': Buffer;
  'Card Serial Number': Buffer;
  'PIN Information': PinInfo;
  'PIN List': number;
  'Authenticated State': number;
  'PIN Strength Verify': number;
  'PIN Strength Change': number;
  'PIN Strength Unblock': number;
  'Parent Window': number;
  'PIN Context String': string;
  'Key Import Support': number;
  'Algorithms': string[];
  'Padding Schemes': number;
  'Chaining Modes': string[];
}
export type CardPropertyName = keyof CardPropertyValues;

/** Values of the container properties, by property name. */
export interface ContainerPropertyValues {
  'Container Info': ContainerInfo;
  'PIN Identifier': number;
  'Associated ECDH Key': Buffer;
}
export type ContainerPropertyName = keyof ContainerPropertyValues;

/** The CSP's file cache callbacks (pfnCspCacheAddFile / LookupFile / DeleteFile). */
export interface CspCacheCallbacks {
  add(tag: string, data: Uint8Array): void;
  lookup(tag: string): Buffer | undefined;
  delete(tag: string): void;
}

/**
 * CARD_DATA as the caller fills it. `hScard` names the card the driver is to bind: for a PC/SC driver a
 * connected card handle, for the PKCS#11 bridge the card handle its reader list hands out.
 */
export interface CardData {
  dwVersion: number;
  pbAtr?: Uint8Array;
  pwszCardName?: string;
  hScard: unknown;
  cache?: CspCacheCallbacks;
}
