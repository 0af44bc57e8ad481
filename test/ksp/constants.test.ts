import { strict as assert } from 'node:assert';
import * as ksp from '../../ksp/constants.js';
import { KDF_HASH_ALGORITHM as MINIDRIVER_KDF_HASH_ALGORITHM } from '../../minidriver/kdf.js';

// Every expected value below is typed from cryptoapi-cng.md §1.7–§1.10 / §3.7–§3.8, not from the module.
const NUMBERS: Record<string, number> = {
  NCRYPT_NO_PADDING_FLAG: 0x1, BCRYPT_PAD_NONE: 0x1,
  NCRYPT_PAD_PKCS1_FLAG: 0x2, BCRYPT_PAD_PKCS1: 0x2,
  NCRYPT_PAD_OAEP_FLAG: 0x4, BCRYPT_PAD_OAEP: 0x4,
  NCRYPT_PAD_PSS_FLAG: 0x8, BCRYPT_PAD_PSS: 0x8,
  BCRYPT_PAD_PKCS1_OPTIONAL_HASH_OID: 0x10, NCRYPT_PAD_CIPHER_FLAG: 0x10,
  NCRYPT_MACHINE_KEY_FLAG: 0x20, NCRYPT_SILENT_FLAG: 0x40, NCRYPT_OVERWRITE_KEY_FLAG: 0x80,
  NCRYPT_WRITE_KEY_TO_LEGACY_STORE_FLAG: 0x200, NCRYPT_DO_NOT_FINALIZE_FLAG: 0x400, NCRYPT_EXPORT_LEGACY_FLAG: 0x800,
  NCRYPT_NO_KEY_VALIDATION: 0x8, BCRYPT_NO_KEY_VALIDATION: 0x8,
  NCRYPT_PERSIST_ONLY_FLAG: 0x40000000, NCRYPT_PERSIST_FLAG: 0x80000000, KDF_USE_SECRET_AS_HMAC_KEY_FLAG: 0x1,
  NCRYPT_MAX_KEY_NAME_LENGTH: 512, NCRYPT_MAX_ALG_ID_LENGTH: 512, NCRYPT_MAX_PROPERTY_NAME: 64, NCRYPT_MAX_PROPERTY_DATA: 0x100000,
  NCRYPT_ALLOW_DECRYPT_FLAG: 0x1, NCRYPT_ALLOW_SIGNING_FLAG: 0x2, NCRYPT_ALLOW_KEY_AGREEMENT_FLAG: 0x4, NCRYPT_ALLOW_ALL_USAGES: 0x00ffffff,
  NCRYPT_ALLOW_EXPORT_FLAG: 0x1, NCRYPT_ALLOW_PLAINTEXT_EXPORT_FLAG: 0x2, NCRYPT_ALLOW_ARCHIVING_FLAG: 0x4,
  NCRYPT_ALLOW_PLAINTEXT_ARCHIVING_FLAG: 0x8,
  NCRYPT_IMPL_HARDWARE_FLAG: 0x1, NCRYPT_IMPL_SOFTWARE_FLAG: 0x2, NCRYPT_IMPL_REMOVABLE_FLAG: 0x8, NCRYPT_IMPL_HARDWARE_RNG_FLAG: 0x10,
  NCRYPT_UI_PROTECT_KEY_FLAG: 0x1, NCRYPT_UI_FORCE_HIGH_PROTECTION_FLAG: 0x2,
  NCRYPT_CIPHER_INTERFACE: 1, NCRYPT_HASH_INTERFACE: 2, NCRYPT_ASYMMETRIC_ENCRYPTION_INTERFACE: 3,
  NCRYPT_SECRET_AGREEMENT_INTERFACE: 4, NCRYPT_SIGNATURE_INTERFACE: 5, BCRYPT_RNG_INTERFACE: 6, NCRYPT_KEY_DERIVATION_INTERFACE: 7,
  NCRYPT_KEY_STORAGE_INTERFACE: 0x00010001,
  NCRYPT_CIPHER_OPERATION: 0x1, NCRYPT_HASH_OPERATION: 0x2, NCRYPT_ASYMMETRIC_ENCRYPTION_OPERATION: 0x4,
  NCRYPT_SECRET_AGREEMENT_OPERATION: 0x8, NCRYPT_SIGNATURE_OPERATION: 0x10, NCRYPT_RNG_OPERATION: 0x20,
  NCRYPT_KEY_DERIVATION_OPERATION: 0x40,
  NCRYPTBUFFER_VERSION: 0, KDF_HASH_ALGORITHM: 0, KDF_SECRET_PREPEND: 1, KDF_SECRET_APPEND: 2, KDF_HMAC_KEY: 3,
  KDF_TLS_PRF_LABEL: 4, KDF_TLS_PRF_SEED: 5, KDF_SECRET_HANDLE: 6, KDF_TLS_PRF_PROTOCOL: 7, KDF_ALGORITHMID: 8,
  KDF_PARTYUINFO: 9, KDF_PARTYVINFO: 10, KDF_SUPPPUBINFO: 11, KDF_SUPPPRIVINFO: 12,
  NCRYPTBUFFER_PKCS_OID: 40, NCRYPTBUFFER_PKCS_ALG_OID: 41, NCRYPTBUFFER_PKCS_ALG_PARAM: 42, NCRYPTBUFFER_PKCS_ALG_ID: 43,
  NCRYPTBUFFER_PKCS_ATTRS: 44, NCRYPTBUFFER_PKCS_KEY_NAME: 45, NCRYPTBUFFER_PKCS_SECRET: 46, NCRYPTBUFFER_CERT_BLOB: 47,
  BCRYPT_RSAPUBLIC_MAGIC: 0x31415352, BCRYPT_RSAPRIVATE_MAGIC: 0x32415352, BCRYPT_RSAFULLPRIVATE_MAGIC: 0x33415352,
  BCRYPT_ECDH_PUBLIC_P256_MAGIC: 0x314b4345, BCRYPT_ECDSA_PRIVATE_P521_MAGIC: 0x36534345,
};

const STRINGS: Record<string, string> = {
  MS_SMART_CARD_KEY_STORAGE_PROVIDER: 'Microsoft Smart Card Key Storage Provider',
  MS_KEY_STORAGE_PROVIDER: 'Microsoft Software Key Storage Provider',
  MS_PLATFORM_KEY_STORAGE_PROVIDER: 'Microsoft Platform Crypto Provider',
  NCRYPT_NAME_PROPERTY: 'Name', NCRYPT_UNIQUE_NAME_PROPERTY: 'Unique Name', NCRYPT_ALGORITHM_PROPERTY: 'Algorithm Name',
  NCRYPT_ALGORITHM_GROUP_PROPERTY: 'Algorithm Group', NCRYPT_LENGTH_PROPERTY: 'Length', NCRYPT_LENGTHS_PROPERTY: 'Lengths',
  NCRYPT_BLOCK_LENGTH_PROPERTY: 'Block Length', NCRYPT_UI_POLICY_PROPERTY: 'UI Policy', NCRYPT_EXPORT_POLICY_PROPERTY: 'Export Policy',
  NCRYPT_WINDOW_HANDLE_PROPERTY: 'HWND Handle', NCRYPT_USE_CONTEXT_PROPERTY: 'Use Context', NCRYPT_IMPL_TYPE_PROPERTY: 'Impl Type',
  NCRYPT_KEY_USAGE_PROPERTY: 'Key Usage', NCRYPT_KEY_TYPE_PROPERTY: 'Key Type', NCRYPT_SECURITY_DESCR_PROPERTY: 'Security Descr',
  NCRYPT_LAST_MODIFIED_PROPERTY: 'Modified', NCRYPT_MAX_NAME_LENGTH_PROPERTY: 'Max Name Length',
  NCRYPT_PROVIDER_HANDLE_PROPERTY: 'Provider Handle', NCRYPT_PIN_PROPERTY: 'SmartCardPin', NCRYPT_READER_PROPERTY: 'SmartCardReader',
  NCRYPT_SMARTCARD_GUID_PROPERTY: 'SmartCardGuid', NCRYPT_CERTIFICATE_PROPERTY: 'SmartCardKeyCertificate',
  NCRYPT_PIN_PROMPT_PROPERTY: 'SmartCardPinPrompt', NCRYPT_USER_CERTSTORE_PROPERTY: 'SmartCardUserCertStore',
  NCRYPT_ROOT_CERTSTORE_PROPERTY: 'SmartcardRootCertStore', NCRYPT_SECURE_PIN_PROPERTY: 'SmartCardSecurePin',
  NCRYPT_ASSOCIATED_ECDH_KEY: 'SmartCardAssociatedECDHKey', NCRYPT_SCARD_PIN_ID: 'SmartCardPinId', NCRYPT_SCARD_PIN_INFO: 'SmartCardPinInfo',
  NCRYPT_VERSION_PROPERTY: 'Version', NCRYPT_SECURITY_DESCR_SUPPORT_PROPERTY: 'Security Descr Support',
  NCRYPT_USE_COUNT_ENABLED_PROPERTY: 'Enabled Use Count', NCRYPT_USE_COUNT_PROPERTY: 'Use Count',
  NCRYPT_READER_ICON_PROPERTY: 'SmartCardReaderIcon', NCRYPT_DH_PARAMETERS_PROPERTY: 'DHParameters',
  NCRYPT_CHAINING_MODE_PROPERTY: 'Chaining Mode', BCRYPT_SIGNATURE_LENGTH: 'SignatureLength', BCRYPT_PUBLIC_KEY_LENGTH: 'PublicKeyLength',
  NCRYPT_RSA_ALGORITHM_GROUP: 'RSA', NCRYPT_DH_ALGORITHM_GROUP: 'DH', NCRYPT_DSA_ALGORITHM_GROUP: 'DSA',
  NCRYPT_ECDSA_ALGORITHM_GROUP: 'ECDSA', NCRYPT_ECDH_ALGORITHM_GROUP: 'ECDH',
  BCRYPT_RSA_ALGORITHM: 'RSA', BCRYPT_RSA_SIGN_ALGORITHM: 'RSA_SIGN', BCRYPT_DH_ALGORITHM: 'DH', BCRYPT_DSA_ALGORITHM: 'DSA',
  BCRYPT_ECDSA_P256_ALGORITHM: 'ECDSA_P256', BCRYPT_ECDSA_P384_ALGORITHM: 'ECDSA_P384', BCRYPT_ECDSA_P521_ALGORITHM: 'ECDSA_P521',
  BCRYPT_ECDH_P256_ALGORITHM: 'ECDH_P256', BCRYPT_ECDH_P384_ALGORITHM: 'ECDH_P384', BCRYPT_ECDH_P521_ALGORITHM: 'ECDH_P521',
  BCRYPT_AES_ALGORITHM: 'AES', BCRYPT_3DES_ALGORITHM: '3DES', BCRYPT_DES_ALGORITHM: 'DES', BCRYPT_RC2_ALGORITHM: 'RC2',
  BCRYPT_RC4_ALGORITHM: 'RC4', BCRYPT_RNG_ALGORITHM: 'RNG', BCRYPT_SHA1_ALGORITHM: 'SHA1', BCRYPT_SHA256_ALGORITHM: 'SHA256',
  BCRYPT_SHA384_ALGORITHM: 'SHA384', BCRYPT_SHA512_ALGORITHM: 'SHA512', BCRYPT_MD2_ALGORITHM: 'MD2', BCRYPT_MD4_ALGORITHM: 'MD4',
  BCRYPT_MD5_ALGORITHM: 'MD5', NCRYPT_RSA_ALGORITHM: 'RSA', NCRYPT_ECDSA_P256_ALGORITHM: 'ECDSA_P256', NCRYPT_ECDH_P384_ALGORITHM: 'ECDH_P384',
  BCRYPT_KDF_HASH: 'HASH', BCRYPT_KDF_HMAC: 'HMAC', BCRYPT_KDF_TLS_PRF: 'TLS_PRF', BCRYPT_KDF_SP80056A_CONCAT: 'SP800_56A_CONCAT',
  BCRYPT_KDF_RAW_SECRET: 'TRUNCATE',
  BCRYPT_RSAPUBLIC_BLOB: 'RSAPUBLICBLOB', BCRYPT_RSAPRIVATE_BLOB: 'RSAPRIVATEBLOB', BCRYPT_RSAFULLPRIVATE_BLOB: 'RSAFULLPRIVATEBLOB',
  BCRYPT_ECCPUBLIC_BLOB: 'ECCPUBLICBLOB', BCRYPT_ECCPRIVATE_BLOB: 'ECCPRIVATEBLOB', BCRYPT_PUBLIC_KEY_BLOB: 'PUBLICBLOB',
  BCRYPT_PRIVATE_KEY_BLOB: 'PRIVATEBLOB', LEGACY_RSAPUBLIC_BLOB: 'CAPIPUBLICBLOB', LEGACY_RSAPRIVATE_BLOB: 'CAPIPRIVATEBLOB',
  LEGACY_DSA_PUBLIC_BLOB: 'CAPIDSAPUBLICBLOB', NCRYPT_PKCS8_PRIVATE_KEY_BLOB: 'PKCS8_PRIVATEKEY',
  NCRYPT_PKCS7_ENVELOPE_BLOB: 'PKCS7_ENVELOPE', NCRYPT_OPAQUETRANSPORT_BLOB: 'OpaqueTransport',
  NCRYPT_CIPHER_KEY_BLOB: 'CipherKeyBlob', NCRYPT_PROTECTED_KEY_BLOB: 'ProtectedKeyBlob', BCRYPT_KEY_DATA_BLOB: 'KeyDataBlob',
};

const exported = ksp as unknown as Record<string, unknown>;

/** Property-name constants: the *_PROPERTY macros plus the smart-card and BCrypt names without that suffix. */
const PROPERTY_CONSTANTS = Object.keys(exported).filter((name) => name.endsWith('_PROPERTY')
  || ['NCRYPT_ASSOCIATED_ECDH_KEY', 'NCRYPT_SCARD_PIN_ID', 'NCRYPT_SCARD_PIN_INFO', 'BCRYPT_SIGNATURE_LENGTH', 'BCRYPT_PUBLIC_KEY_LENGTH'].includes(name));

describe('ksp constants', () => {
  it(`has the reference's value for ${Object.keys(NUMBERS).length} numeric constants`, () => {
    for (const [name, value] of Object.entries(NUMBERS)) assert.equal(exported[name], value, name);
  });

  it(`has the reference's string for ${Object.keys(STRINGS).length} names, ids and blob types`, () => {
    for (const [name, value] of Object.entries(STRINGS)) assert.equal(exported[name], value, name);
  });

  it('spot-checks the values most often got wrong', () => {
    assert.equal(ksp.NCRYPT_SILENT_FLAG, 0x40);
    assert.equal(ksp.NCRYPT_LENGTH_PROPERTY, 'Length');
    assert.equal(ksp.NCRYPT_ALGORITHM_GROUP_PROPERTY, 'Algorithm Group');
    assert.equal(ksp.NCRYPT_ROOT_CERTSTORE_PROPERTY, 'SmartcardRootCertStore');
    assert.equal(ksp.NCRYPT_PERSIST_FLAG, 0x80000000);
    assert.ok(ksp.NCRYPT_PERSIST_FLAG > 0, 'flags are unsigned');
  });

  it('re-exports the KDF buffer types of minidriver/kdf.ts instead of defining them again', () => {
    assert.equal(ksp.KDF_HASH_ALGORITHM, MINIDRIVER_KDF_HASH_ALGORITHM);
  });

  it('PROPERTY_TYPES covers every property-name constant, and only those', () => {
    assert.ok(PROPERTY_CONSTANTS.length >= 38, `found only ${PROPERTY_CONSTANTS.length} property constants`);
    const names = new Set(PROPERTY_CONSTANTS.map((constant) => exported[constant]));
    for (const constant of PROPERTY_CONSTANTS) {
      assert.ok(Object.hasOwn(ksp.PROPERTY_TYPES, exported[constant] as string), `${constant} (${String(exported[constant])}) has no type`);
    }
    for (const name of Object.keys(ksp.PROPERTY_TYPES)) assert.ok(names.has(name), `PROPERTY_TYPES has "${name}", which no constant names`);
    for (const kind of Object.values(ksp.PROPERTY_TYPES)) assert.ok(['dword', 'string', 'bytes'].includes(kind));
  });

  it('types properties as the reference does (DWORD → dword, strings → string, the rest → bytes)', () => {
    const expected: Record<string, string> = {
      Name: 'string', 'Unique Name': 'string', 'Algorithm Name': 'string', 'Algorithm Group': 'string', Length: 'dword',
      Lengths: 'bytes', 'Block Length': 'dword', 'UI Policy': 'bytes', 'Export Policy': 'dword', 'HWND Handle': 'bytes',
      'Use Context': 'string', 'Impl Type': 'dword', 'Key Usage': 'dword', 'Key Type': 'dword', 'Security Descr': 'bytes',
      Modified: 'bytes', 'Max Name Length': 'dword', 'Provider Handle': 'bytes', SmartCardPin: 'string', SmartCardReader: 'string',
      SmartCardGuid: 'bytes', SmartCardKeyCertificate: 'bytes', SmartCardUserCertStore: 'bytes', SmartcardRootCertStore: 'bytes',
      SmartCardAssociatedECDHKey: 'string', SmartCardPinId: 'dword', SmartCardPinInfo: 'bytes',
    };
    for (const [name, kind] of Object.entries(expected)) assert.equal(ksp.PROPERTY_TYPES[name], kind, name);
  });

  it('propertyValueKind ignores Object.prototype members and unknown names', () => {
    assert.equal(ksp.propertyValueKind('Length'), 'dword');
    assert.equal(ksp.propertyValueKind('constructor'), undefined);
  });

  it('cannot be modified', () => {
    assert.ok(Object.isFrozen(ksp.PROPERTY_TYPES));
  });
});
