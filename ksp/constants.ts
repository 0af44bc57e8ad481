/**
 * CNG constants of the NCrypt front end (ncrypt.h / bcrypt.h), by their Windows names and values.
 * Source: ../shared/reference/cryptoapi-cng.md §1.8–§1.10 (and §3.7–§3.8 for blob magics).
 *
 * Why one module: applications ported from Windows pass these names verbatim, so every value must be
 * the one Windows uses. Constants that the minidriver layer already defines (KDF names and NCryptBuffer
 * types, ECC blob magics) are re-exported rather than redefined: the same binding reached through two
 * `export *` paths is not an ambiguity, two bindings with one name would be.
 */

export {
  BCRYPT_KDF_HASH, BCRYPT_KDF_HMAC, BCRYPT_KDF_TLS_PRF, BCRYPT_KDF_SP80056A_CONCAT, BCRYPT_KDF_RAW_SECRET,
  KDF_HASH_ALGORITHM, KDF_SECRET_PREPEND, KDF_SECRET_APPEND, KDF_HMAC_KEY, KDF_TLS_PRF_LABEL, KDF_TLS_PRF_SEED,
  KDF_SECRET_HANDLE, KDF_TLS_PRF_PROTOCOL, KDF_ALGORITHMID, KDF_PARTYUINFO, KDF_PARTYVINFO, KDF_SUPPPUBINFO,
  KDF_SUPPPRIVINFO, KDF_USE_SECRET_AS_HMAC_KEY_FLAG,
} from '../minidriver/kdf.js';
export {
  BCRYPT_ECDH_PUBLIC_P256_MAGIC, BCRYPT_ECDH_PRIVATE_P256_MAGIC, BCRYPT_ECDH_PUBLIC_P384_MAGIC,
  BCRYPT_ECDH_PRIVATE_P384_MAGIC, BCRYPT_ECDH_PUBLIC_P521_MAGIC, BCRYPT_ECDH_PRIVATE_P521_MAGIC,
  BCRYPT_ECDSA_PUBLIC_P256_MAGIC, BCRYPT_ECDSA_PRIVATE_P256_MAGIC, BCRYPT_ECDSA_PUBLIC_P384_MAGIC,
  BCRYPT_ECDSA_PRIVATE_P384_MAGIC, BCRYPT_ECDSA_PUBLIC_P521_MAGIC, BCRYPT_ECDSA_PRIVATE_P521_MAGIC,
} from '../minidriver/constants.js';
export {
  BCRYPT_RSAPUBLIC_MAGIC, BCRYPT_RSAPRIVATE_MAGIC, BCRYPT_RSAFULLPRIVATE_MAGIC,
} from '../minidriver/codecs/bcrypt-rsa-blob.js';

// --- Provider names (§1.7) ---
export const MS_SMART_CARD_KEY_STORAGE_PROVIDER = 'Microsoft Smart Card Key Storage Provider';
export const MS_KEY_STORAGE_PROVIDER = 'Microsoft Software Key Storage Provider';
export const MS_PLATFORM_KEY_STORAGE_PROVIDER = 'Microsoft Platform Crypto Provider';

// --- Padding flags (§1.8). ncrypt.h defines the NCRYPT_ names as the BCRYPT_ values. ---
export const BCRYPT_PAD_NONE = 0x00000001;
export const BCRYPT_PAD_PKCS1 = 0x00000002;
export const BCRYPT_PAD_OAEP = 0x00000004;
export const BCRYPT_PAD_PSS = 0x00000008;
export const BCRYPT_PAD_PKCS1_OPTIONAL_HASH_OID = 0x00000010;
export const NCRYPT_NO_PADDING_FLAG = BCRYPT_PAD_NONE;
export const NCRYPT_PAD_PKCS1_FLAG = BCRYPT_PAD_PKCS1;
export const NCRYPT_PAD_OAEP_FLAG = BCRYPT_PAD_OAEP;
export const NCRYPT_PAD_PSS_FLAG = BCRYPT_PAD_PSS;
/** Symmetric-cipher padding; the same bit as BCRYPT_PAD_PKCS1_OPTIONAL_HASH_OID, on other calls. */
export const NCRYPT_PAD_CIPHER_FLAG = 0x00000010;

// --- NCrypt API flags (§1.8) ---
/**
 * Same bit as CAPI CRYPT_MACHINE_KEYSET; also the machine bit of NCRYPT_KEY_TYPE_PROPERTY (the docs
 * print 1 there, but .NET tests 0x20 — reference §6).
 */
export const NCRYPT_MACHINE_KEY_FLAG = 0x00000020;
/** Same bit as CAPI CRYPT_SILENT. */
export const NCRYPT_SILENT_FLAG = 0x00000040;
export const NCRYPT_OVERWRITE_KEY_FLAG = 0x00000080;
export const NCRYPT_WRITE_KEY_TO_LEGACY_STORE_FLAG = 0x00000200;
export const NCRYPT_DO_NOT_FINALIZE_FLAG = 0x00000400;
export const NCRYPT_EXPORT_LEGACY_FLAG = 0x00000800;
/** Import flag; shares its bit with NCRYPT_PAD_PSS_FLAG, which belongs to other calls. */
export const BCRYPT_NO_KEY_VALIDATION = 0x00000008;
export const NCRYPT_NO_KEY_VALIDATION = BCRYPT_NO_KEY_VALIDATION;
export const NCRYPT_PERSIST_ONLY_FLAG = 0x40000000;
export const NCRYPT_PERSIST_FLAG = 0x80000000;

// --- Limits (§1.8) ---
/** Characters. */
export const NCRYPT_MAX_KEY_NAME_LENGTH = 512;
/** Characters. */
export const NCRYPT_MAX_ALG_ID_LENGTH = 512;
/** Characters. */
export const NCRYPT_MAX_PROPERTY_NAME = 64;
/** Bytes. */
export const NCRYPT_MAX_PROPERTY_DATA = 0x100000;

// --- Property names (§1.9) ---
export const NCRYPT_NAME_PROPERTY = 'Name';
export const NCRYPT_UNIQUE_NAME_PROPERTY = 'Unique Name';
export const NCRYPT_ALGORITHM_PROPERTY = 'Algorithm Name';
export const NCRYPT_ALGORITHM_GROUP_PROPERTY = 'Algorithm Group';
export const NCRYPT_LENGTH_PROPERTY = 'Length';
export const NCRYPT_LENGTHS_PROPERTY = 'Lengths';
export const NCRYPT_BLOCK_LENGTH_PROPERTY = 'Block Length';
export const NCRYPT_UI_POLICY_PROPERTY = 'UI Policy';
export const NCRYPT_EXPORT_POLICY_PROPERTY = 'Export Policy';
export const NCRYPT_WINDOW_HANDLE_PROPERTY = 'HWND Handle';
export const NCRYPT_USE_CONTEXT_PROPERTY = 'Use Context';
export const NCRYPT_IMPL_TYPE_PROPERTY = 'Impl Type';
export const NCRYPT_KEY_USAGE_PROPERTY = 'Key Usage';
export const NCRYPT_KEY_TYPE_PROPERTY = 'Key Type';
export const NCRYPT_VERSION_PROPERTY = 'Version';
export const NCRYPT_SECURITY_DESCR_SUPPORT_PROPERTY = 'Security Descr Support';
export const NCRYPT_SECURITY_DESCR_PROPERTY = 'Security Descr';
export const NCRYPT_USE_COUNT_ENABLED_PROPERTY = 'Enabled Use Count';
export const NCRYPT_USE_COUNT_PROPERTY = 'Use Count';
export const NCRYPT_LAST_MODIFIED_PROPERTY = 'Modified';
export const NCRYPT_MAX_NAME_LENGTH_PROPERTY = 'Max Name Length';
export const NCRYPT_DH_PARAMETERS_PROPERTY = 'DHParameters';
export const NCRYPT_CHAINING_MODE_PROPERTY = 'Chaining Mode';
export const NCRYPT_PROVIDER_HANDLE_PROPERTY = 'Provider Handle';
export const NCRYPT_PIN_PROPERTY = 'SmartCardPin';
export const NCRYPT_READER_PROPERTY = 'SmartCardReader';
export const NCRYPT_SMARTCARD_GUID_PROPERTY = 'SmartCardGuid';
export const NCRYPT_CERTIFICATE_PROPERTY = 'SmartCardKeyCertificate';
export const NCRYPT_PIN_PROMPT_PROPERTY = 'SmartCardPinPrompt';
export const NCRYPT_USER_CERTSTORE_PROPERTY = 'SmartCardUserCertStore';
/** Lower-case "c" in "card": Windows' spelling, and property names are matched exactly. */
export const NCRYPT_ROOT_CERTSTORE_PROPERTY = 'SmartcardRootCertStore';
export const NCRYPT_SECURE_PIN_PROPERTY = 'SmartCardSecurePin';
export const NCRYPT_READER_ICON_PROPERTY = 'SmartCardReaderIcon';
// Smart-card properties whose macros lack the _PROPERTY suffix.
export const NCRYPT_ASSOCIATED_ECDH_KEY = 'SmartCardAssociatedECDHKey';
export const NCRYPT_SCARD_PIN_ID = 'SmartCardPinId';
export const NCRYPT_SCARD_PIN_INFO = 'SmartCardPinInfo';
// BCrypt properties Windows also answers on NCrypt keys (WNT); ncrypt.h aliases them as *_LENGTH_PROPERTY.
export const BCRYPT_SIGNATURE_LENGTH = 'SignatureLength';
export const BCRYPT_PUBLIC_KEY_LENGTH = 'PublicKeyLength';
export const NCRYPT_SIGNATURE_LENGTH_PROPERTY = BCRYPT_SIGNATURE_LENGTH;
export const NCRYPT_PUBLIC_LENGTH_PROPERTY = BCRYPT_PUBLIC_KEY_LENGTH;

/** How NCryptGetProperty returns a property's value: DWORD → number, string → string, else → Buffer. */
export type PropertyValueKind = 'dword' | 'string' | 'bytes';

/**
 * Value kind of every property name above. Structures, handles, FILETIMEs, certificates and stores are
 * 'bytes': the caller gets Windows' byte layout and decodes it. Kinds not printed in the reference's
 * §1.9 table come from MS "Key Storage Property Identifiers" / "Cryptography Primitive Property
 * Identifiers": Version, Security Descr Support, Enabled Use Count, SignatureLength and PublicKeyLength
 * are DWORDs; Chaining Mode is a string; Use Count is a 64-bit counter, DHParameters a structure and
 * SmartCardReaderIcon an image, hence bytes. SmartCardSecurePin is opaque (set-only) and kept as bytes.
 */
export const PROPERTY_TYPES: Readonly<Record<string, PropertyValueKind>> = Object.freeze({
  [NCRYPT_NAME_PROPERTY]: 'string',
  [NCRYPT_UNIQUE_NAME_PROPERTY]: 'string',
  [NCRYPT_ALGORITHM_PROPERTY]: 'string',
  [NCRYPT_ALGORITHM_GROUP_PROPERTY]: 'string',
  [NCRYPT_LENGTH_PROPERTY]: 'dword',
  [NCRYPT_LENGTHS_PROPERTY]: 'bytes',
  [NCRYPT_BLOCK_LENGTH_PROPERTY]: 'dword',
  [NCRYPT_UI_POLICY_PROPERTY]: 'bytes',
  [NCRYPT_EXPORT_POLICY_PROPERTY]: 'dword',
  [NCRYPT_WINDOW_HANDLE_PROPERTY]: 'bytes',
  [NCRYPT_USE_CONTEXT_PROPERTY]: 'string',
  [NCRYPT_IMPL_TYPE_PROPERTY]: 'dword',
  [NCRYPT_KEY_USAGE_PROPERTY]: 'dword',
  [NCRYPT_KEY_TYPE_PROPERTY]: 'dword',
  [NCRYPT_VERSION_PROPERTY]: 'dword',
  [NCRYPT_SECURITY_DESCR_SUPPORT_PROPERTY]: 'dword',
  [NCRYPT_SECURITY_DESCR_PROPERTY]: 'bytes',
  [NCRYPT_USE_COUNT_ENABLED_PROPERTY]: 'dword',
  [NCRYPT_USE_COUNT_PROPERTY]: 'bytes',
  [NCRYPT_LAST_MODIFIED_PROPERTY]: 'bytes',
  [NCRYPT_MAX_NAME_LENGTH_PROPERTY]: 'dword',
  [NCRYPT_DH_PARAMETERS_PROPERTY]: 'bytes',
  [NCRYPT_CHAINING_MODE_PROPERTY]: 'string',
  [NCRYPT_PROVIDER_HANDLE_PROPERTY]: 'bytes',
  [NCRYPT_PIN_PROPERTY]: 'string',
  [NCRYPT_READER_PROPERTY]: 'string',
  [NCRYPT_SMARTCARD_GUID_PROPERTY]: 'bytes',
  [NCRYPT_CERTIFICATE_PROPERTY]: 'bytes',
  [NCRYPT_PIN_PROMPT_PROPERTY]: 'string',
  [NCRYPT_USER_CERTSTORE_PROPERTY]: 'bytes',
  [NCRYPT_ROOT_CERTSTORE_PROPERTY]: 'bytes',
  [NCRYPT_SECURE_PIN_PROPERTY]: 'bytes',
  [NCRYPT_READER_ICON_PROPERTY]: 'bytes',
  [NCRYPT_ASSOCIATED_ECDH_KEY]: 'string',
  [NCRYPT_SCARD_PIN_ID]: 'dword',
  [NCRYPT_SCARD_PIN_INFO]: 'bytes',
  [BCRYPT_SIGNATURE_LENGTH]: 'dword',
  [BCRYPT_PUBLIC_KEY_LENGTH]: 'dword',
});

/** PROPERTY_TYPES lookup that cannot hit Object.prototype members ('constructor', 'toString'...). */
export function propertyValueKind(property: string): PropertyValueKind | undefined {
  return typeof property === 'string' && Object.hasOwn(PROPERTY_TYPES, property) ? PROPERTY_TYPES[property] : undefined;
}

// --- Property values (§1.9) ---
// NCRYPT_KEY_USAGE_PROPERTY
export const NCRYPT_ALLOW_DECRYPT_FLAG = 0x00000001;
export const NCRYPT_ALLOW_SIGNING_FLAG = 0x00000002;
export const NCRYPT_ALLOW_KEY_AGREEMENT_FLAG = 0x00000004;
export const NCRYPT_ALLOW_ALL_USAGES = 0x00ffffff;
// NCRYPT_EXPORT_POLICY_PROPERTY
export const NCRYPT_ALLOW_EXPORT_FLAG = 0x00000001;
export const NCRYPT_ALLOW_PLAINTEXT_EXPORT_FLAG = 0x00000002;
export const NCRYPT_ALLOW_ARCHIVING_FLAG = 0x00000004;
export const NCRYPT_ALLOW_PLAINTEXT_ARCHIVING_FLAG = 0x00000008;
// NCRYPT_IMPL_TYPE_PROPERTY
export const NCRYPT_IMPL_HARDWARE_FLAG = 0x00000001;
export const NCRYPT_IMPL_SOFTWARE_FLAG = 0x00000002;
export const NCRYPT_IMPL_REMOVABLE_FLAG = 0x00000008;
export const NCRYPT_IMPL_HARDWARE_RNG_FLAG = 0x00000010;
// NCRYPT_UI_POLICY.dwFlags
export const NCRYPT_UI_PROTECT_KEY_FLAG = 0x00000001;
export const NCRYPT_UI_FORCE_HIGH_PROTECTION_FLAG = 0x00000002;

// --- Algorithm identifiers (§1.10) ---
export const BCRYPT_RSA_ALGORITHM = 'RSA';
export const BCRYPT_RSA_SIGN_ALGORITHM = 'RSA_SIGN';
export const BCRYPT_DH_ALGORITHM = 'DH';
export const BCRYPT_DSA_ALGORITHM = 'DSA';
export const BCRYPT_ECDSA_P256_ALGORITHM = 'ECDSA_P256';
export const BCRYPT_ECDSA_P384_ALGORITHM = 'ECDSA_P384';
export const BCRYPT_ECDSA_P521_ALGORITHM = 'ECDSA_P521';
export const BCRYPT_ECDH_P256_ALGORITHM = 'ECDH_P256';
export const BCRYPT_ECDH_P384_ALGORITHM = 'ECDH_P384';
export const BCRYPT_ECDH_P521_ALGORITHM = 'ECDH_P521';
export const BCRYPT_AES_ALGORITHM = 'AES';
export const BCRYPT_3DES_ALGORITHM = '3DES';
export const BCRYPT_DES_ALGORITHM = 'DES';
export const BCRYPT_RC2_ALGORITHM = 'RC2';
export const BCRYPT_RC4_ALGORITHM = 'RC4';
export const BCRYPT_RNG_ALGORITHM = 'RNG';
export const BCRYPT_SHA1_ALGORITHM = 'SHA1';
export const BCRYPT_SHA256_ALGORITHM = 'SHA256';
export const BCRYPT_SHA384_ALGORITHM = 'SHA384';
export const BCRYPT_SHA512_ALGORITHM = 'SHA512';
export const BCRYPT_MD2_ALGORITHM = 'MD2';
export const BCRYPT_MD4_ALGORITHM = 'MD4';
export const BCRYPT_MD5_ALGORITHM = 'MD5';
// ncrypt.h's spellings of the same ids, which NCrypt code tends to use.
export const NCRYPT_RSA_ALGORITHM = BCRYPT_RSA_ALGORITHM;
export const NCRYPT_RSA_SIGN_ALGORITHM = BCRYPT_RSA_SIGN_ALGORITHM;
export const NCRYPT_DH_ALGORITHM = BCRYPT_DH_ALGORITHM;
export const NCRYPT_DSA_ALGORITHM = BCRYPT_DSA_ALGORITHM;
export const NCRYPT_MD2_ALGORITHM = BCRYPT_MD2_ALGORITHM;
export const NCRYPT_MD4_ALGORITHM = BCRYPT_MD4_ALGORITHM;
export const NCRYPT_MD5_ALGORITHM = BCRYPT_MD5_ALGORITHM;
export const NCRYPT_SHA1_ALGORITHM = BCRYPT_SHA1_ALGORITHM;
export const NCRYPT_SHA256_ALGORITHM = BCRYPT_SHA256_ALGORITHM;
export const NCRYPT_SHA384_ALGORITHM = BCRYPT_SHA384_ALGORITHM;
export const NCRYPT_SHA512_ALGORITHM = BCRYPT_SHA512_ALGORITHM;
export const NCRYPT_ECDSA_P256_ALGORITHM = BCRYPT_ECDSA_P256_ALGORITHM;
export const NCRYPT_ECDSA_P384_ALGORITHM = BCRYPT_ECDSA_P384_ALGORITHM;
export const NCRYPT_ECDSA_P521_ALGORITHM = BCRYPT_ECDSA_P521_ALGORITHM;
export const NCRYPT_ECDH_P256_ALGORITHM = BCRYPT_ECDH_P256_ALGORITHM;
export const NCRYPT_ECDH_P384_ALGORITHM = BCRYPT_ECDH_P384_ALGORITHM;
export const NCRYPT_ECDH_P521_ALGORITHM = BCRYPT_ECDH_P521_ALGORITHM;

// Algorithm groups: the values of NCRYPT_ALGORITHM_GROUP_PROPERTY (§1.9).
export const NCRYPT_RSA_ALGORITHM_GROUP = NCRYPT_RSA_ALGORITHM;
export const NCRYPT_DH_ALGORITHM_GROUP = NCRYPT_DH_ALGORITHM;
export const NCRYPT_DSA_ALGORITHM_GROUP = NCRYPT_DSA_ALGORITHM;
export const NCRYPT_ECDSA_ALGORITHM_GROUP = 'ECDSA';
export const NCRYPT_ECDH_ALGORITHM_GROUP = 'ECDH';

// --- Blob types (§1.10) ---
export const BCRYPT_RSAPUBLIC_BLOB = 'RSAPUBLICBLOB';
export const BCRYPT_RSAPRIVATE_BLOB = 'RSAPRIVATEBLOB';
export const BCRYPT_RSAFULLPRIVATE_BLOB = 'RSAFULLPRIVATEBLOB';
export const BCRYPT_ECCPUBLIC_BLOB = 'ECCPUBLICBLOB';
export const BCRYPT_ECCPRIVATE_BLOB = 'ECCPRIVATEBLOB';
/** Generic: the provider picks the format from the key (for RSA, dispatch is by the blob's Magic). */
export const BCRYPT_PUBLIC_KEY_BLOB = 'PUBLICBLOB';
export const BCRYPT_PRIVATE_KEY_BLOB = 'PRIVATEBLOB';
/** The bytes are a CAPI PUBLICKEYBLOB: encode/decode with capi-rsa-blob.ts, not a codec of its own. */
export const LEGACY_RSAPUBLIC_BLOB = 'CAPIPUBLICBLOB';
/** The bytes are a CAPI PRIVATEKEYBLOB (capi-rsa-blob.ts). */
export const LEGACY_RSAPRIVATE_BLOB = 'CAPIPRIVATEBLOB';
export const LEGACY_DSA_PUBLIC_BLOB = 'CAPIDSAPUBLICBLOB';
export const NCRYPT_PKCS8_PRIVATE_KEY_BLOB = 'PKCS8_PRIVATEKEY';
export const NCRYPT_PKCS7_ENVELOPE_BLOB = 'PKCS7_ENVELOPE';
export const NCRYPT_OPAQUETRANSPORT_BLOB = 'OpaqueTransport';
export const NCRYPT_CIPHER_KEY_BLOB = 'CipherKeyBlob';
export const NCRYPT_PROTECTED_KEY_BLOB = 'ProtectedKeyBlob';
export const BCRYPT_KEY_DATA_BLOB = 'KeyDataBlob';

// --- Interface classes: NCryptAlgorithmName.dwClass (§1.10) ---
export const BCRYPT_CIPHER_INTERFACE = 1;
export const BCRYPT_HASH_INTERFACE = 2;
export const BCRYPT_ASYMMETRIC_ENCRYPTION_INTERFACE = 3;
export const BCRYPT_SECRET_AGREEMENT_INTERFACE = 4;
export const BCRYPT_SIGNATURE_INTERFACE = 5;
export const BCRYPT_RNG_INTERFACE = 6;
export const BCRYPT_KEY_DERIVATION_INTERFACE = 7;
export const NCRYPT_CIPHER_INTERFACE = BCRYPT_CIPHER_INTERFACE;
export const NCRYPT_HASH_INTERFACE = BCRYPT_HASH_INTERFACE;
export const NCRYPT_ASYMMETRIC_ENCRYPTION_INTERFACE = BCRYPT_ASYMMETRIC_ENCRYPTION_INTERFACE;
export const NCRYPT_SECRET_AGREEMENT_INTERFACE = BCRYPT_SECRET_AGREEMENT_INTERFACE;
export const NCRYPT_SIGNATURE_INTERFACE = BCRYPT_SIGNATURE_INTERFACE;
export const NCRYPT_KEY_DERIVATION_INTERFACE = BCRYPT_KEY_DERIVATION_INTERFACE;
export const NCRYPT_KEY_STORAGE_INTERFACE = 0x00010001;

// --- Operation bits: NCryptAlgorithmName.dwAlgOperations and the NCryptEnumAlgorithms filter (§1.10) ---
export const BCRYPT_CIPHER_OPERATION = 0x00000001;
export const BCRYPT_HASH_OPERATION = 0x00000002;
export const BCRYPT_ASYMMETRIC_ENCRYPTION_OPERATION = 0x00000004;
export const BCRYPT_SECRET_AGREEMENT_OPERATION = 0x00000008;
export const BCRYPT_SIGNATURE_OPERATION = 0x00000010;
export const BCRYPT_RNG_OPERATION = 0x00000020;
export const BCRYPT_KEY_DERIVATION_OPERATION = 0x00000040;
export const NCRYPT_CIPHER_OPERATION = BCRYPT_CIPHER_OPERATION;
export const NCRYPT_HASH_OPERATION = BCRYPT_HASH_OPERATION;
export const NCRYPT_ASYMMETRIC_ENCRYPTION_OPERATION = BCRYPT_ASYMMETRIC_ENCRYPTION_OPERATION;
export const NCRYPT_SECRET_AGREEMENT_OPERATION = BCRYPT_SECRET_AGREEMENT_OPERATION;
export const NCRYPT_SIGNATURE_OPERATION = BCRYPT_SIGNATURE_OPERATION;
export const NCRYPT_RNG_OPERATION = BCRYPT_RNG_OPERATION;
export const NCRYPT_KEY_DERIVATION_OPERATION = BCRYPT_KEY_DERIVATION_OPERATION;

// --- NCryptBufferDesc / NCryptBuffer (§1.10; KDF_* buffer types are re-exported above) ---
export const NCRYPTBUFFER_VERSION = 0;
export const NCRYPTBUFFER_PKCS_OID = 40;
export const NCRYPTBUFFER_PKCS_ALG_OID = 41;
export const NCRYPTBUFFER_PKCS_ALG_PARAM = 42;
export const NCRYPTBUFFER_PKCS_ALG_ID = 43;
export const NCRYPTBUFFER_PKCS_ATTRS = 44;
export const NCRYPTBUFFER_PKCS_KEY_NAME = 45;
export const NCRYPTBUFFER_PKCS_SECRET = 46;
export const NCRYPTBUFFER_CERT_BLOB = 47;
