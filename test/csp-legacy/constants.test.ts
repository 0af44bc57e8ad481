import { strict as assert } from 'node:assert';
import * as csp from '../../csp-legacy/constants.js';
import * as minidriver from '../../minidriver/constants.js';

// Every expected value below is typed from cryptoapi-cng.md §1.1–§1.7 and §3.6, not from the module.
const NUMBERS: Record<string, number> = {
  CRYPT_VERIFYCONTEXT: 0xf0000000, CRYPT_NEWKEYSET: 0x08, CRYPT_DELETEKEYSET: 0x10, CRYPT_MACHINE_KEYSET: 0x20,
  CRYPT_SILENT: 0x40, CRYPT_DEFAULT_CONTAINER_OPTIONAL: 0x80,
  CRYPT_EXPORTABLE: 0x1, CRYPT_USER_PROTECTED: 0x2, CRYPT_CREATE_SALT: 0x4, CRYPT_UPDATE_KEY: 0x8, CRYPT_NO_SALT: 0x10,
  CRYPT_PREGEN: 0x40, CRYPT_IPSEC_HMAC_KEY: 0x100, CRYPT_SERVER: 0x400, CRYPT_USER_KEYSET: 0x1000, CRYPT_SGCKEY: 0x2000,
  CRYPT_ARCHIVABLE: 0x4000, CRYPT_FORCE_KEY_PROTECTION_HIGH: 0x8000,
  CRYPT_Y_ONLY: 0x1, CRYPT_SSL2_FALLBACK: 0x2, CRYPT_DESTROYKEY: 0x4, CRYPT_DECRYPT_RSA_NO_PADDING_CHECK: 0x20, CRYPT_OAEP: 0x40,
  CRYPT_BLOB_VER3: 0x80, CRYPT_NOHASHOID: 0x1, CRYPT_TYPE2_FORMAT: 0x2, CRYPT_X931_FORMAT: 0x4, CRYPT_USERDATA: 0x1,
  CRYPT_LITTLE_ENDIAN: 0x1, CRYPT_FIRST: 1, CRYPT_NEXT: 2, CRYPT_SGC_ENUM: 4,
  CRYPT_MACHINE_DEFAULT: 1, CRYPT_USER_DEFAULT: 2, CRYPT_DELETE_DEFAULT: 4,
  PROV_RSA_FULL: 1, PROV_RSA_SIG: 2, PROV_DSS: 3, PROV_RSA_SCHANNEL: 12, PROV_DSS_DH: 13, PROV_DH_SCHANNEL: 18, PROV_RSA_AES: 24,
  AT_KEYEXCHANGE: 1, AT_SIGNATURE: 2,
  CRYPT_IMPL_HARDWARE: 1, CRYPT_IMPL_SOFTWARE: 2, CRYPT_IMPL_MIXED: 3, CRYPT_IMPL_UNKNOWN: 4, CRYPT_IMPL_REMOVABLE: 8,
  CRYPT_SEC_DESCR: 1, CRYPT_PSTORE: 2, CRYPT_UI_PROMPT: 4,
  ALG_CLASS_SIGNATURE: 0x2000, ALG_CLASS_MSG_ENCRYPT: 0x4000, ALG_CLASS_DATA_ENCRYPT: 0x6000, ALG_CLASS_HASH: 0x8000,
  ALG_CLASS_KEY_EXCHANGE: 0xa000, ALG_TYPE_DSS: 0x200, ALG_TYPE_RSA: 0x400, ALG_TYPE_BLOCK: 0x600, ALG_TYPE_STREAM: 0x800,
  ALG_TYPE_DH: 0xa00, ALG_TYPE_SECURECHANNEL: 0xc00,
  CALG_RSA_KEYX: 0xa400, CALG_RSA_SIGN: 0x2400, CALG_AES_128: 0x660e, CALG_AES_192: 0x660f, CALG_AES_256: 0x6610, CALG_AES: 0x6611,
  CALG_3DES: 0x6603, CALG_3DES_112: 0x6609, CALG_DES: 0x6601, CALG_RC2: 0x6602, CALG_RC4: 0x6801, CALG_MD2: 0x8001,
  CALG_MD4: 0x8002, CALG_MD5: 0x8003, CALG_SHA1: 0x8004, CALG_SHA: 0x8004, CALG_MAC: 0x8005, CALG_SSL3_SHAMD5: 0x8008,
  CALG_HMAC: 0x8009, CALG_TLS1PRF: 0x800a, CALG_SHA_256: 0x800c, CALG_SHA_384: 0x800d, CALG_SHA_512: 0x800e,
  CALG_DSS_SIGN: 0x2200, CALG_NO_SIGN: 0x2000, CALG_ECDSA: 0x2203, CALG_ECDH: 0xaa05, CALG_ECDH_EPHEM: 0xae06, CALG_DH_EPHEM: 0xaa02,
  PP_ENUMALGS: 0x01, PP_CLIENT_HWND: 0x01, PP_ENUMCONTAINERS: 0x02, PP_IMPTYPE: 0x03, PP_NAME: 0x04, PP_VERSION: 0x05,
  PP_CONTAINER: 0x06, PP_KEYSET_SEC_DESCR: 0x08, PP_CERTCHAIN: 0x09, PP_PROVTYPE: 0x10, PP_KEYSTORAGE: 0x11,
  PP_SYM_KEYSIZE: 0x13, PP_SESSION_KEYSIZE: 0x14, PP_UI_PROMPT: 0x15, PP_ENUMALGS_EX: 0x16, PP_DELETEKEY: 0x18,
  PP_KEYSET_TYPE: 0x1b, PP_ADMIN_PIN: 0x1f, PP_KEYEXCHANGE_PIN: 0x20, PP_SIGNATURE_PIN: 0x21, PP_SIG_KEYSIZE_INC: 0x22,
  PP_KEYX_KEYSIZE_INC: 0x23, PP_UNIQUE_CONTAINER: 0x24, PP_USE_HARDWARE_RNG: 0x26, PP_KEYSPEC: 0x27,
  PP_ENUMEX_SIGNING_PROT: 0x28, PP_CRYPT_COUNT_KEY_USE: 0x29, PP_USER_CERTSTORE: 0x2a, PP_SMARTCARD_READER: 0x2b,
  PP_PIN_PROMPT_STRING: 0x2c, PP_SMARTCARD_GUID: 0x2d, PP_ROOT_CERTSTORE: 0x2e, PP_SMARTCARD_READER_ICON: 0x2f,
  PP_SECURE_KEYEXCHANGE_PIN: 0x2f, PP_SECURE_SIGNATURE_PIN: 0x30,
  KP_IV: 1, KP_SALT: 2, KP_PADDING: 3, KP_MODE: 4, KP_MODE_BITS: 5, KP_PERMISSIONS: 6, KP_ALGID: 7, KP_BLOCKLEN: 8, KP_KEYLEN: 9,
  KP_SALT_EX: 10, KP_P: 11, KP_G: 12, KP_Q: 13, KP_X: 14, KP_Y: 15, KP_EFFECTIVE_KEYLEN: 19, KP_SCHANNEL_ALG: 20,
  KP_CLIENT_RANDOM: 21, KP_SERVER_RANDOM: 22, KP_CERTIFICATE: 0x1a, KP_CLEAR_KEY: 27, KP_PUB_EX_LEN: 28, KP_PUB_EX_VAL: 29,
  KP_KEYVAL: 30, KP_ADMIN_PIN: 31, KP_KEYEXCHANGE_PIN: 32, KP_SIGNATURE_PIN: 33, KP_OAEP_PARAMS: 36, KP_PIN_ID: 43, KP_PIN_INFO: 44,
  CRYPT_ENCRYPT: 0x01, CRYPT_DECRYPT: 0x02, CRYPT_EXPORT: 0x04, CRYPT_READ: 0x08, CRYPT_WRITE: 0x10, CRYPT_MAC: 0x20,
  CRYPT_EXPORT_KEY: 0x40, CRYPT_IMPORT_KEY: 0x80, CRYPT_ARCHIVE: 0x100,
  CRYPT_MODE_CBC: 1, CRYPT_MODE_ECB: 2, CRYPT_MODE_OFB: 3, CRYPT_MODE_CFB: 4,
  PKCS5_PADDING: 1, RANDOM_PADDING: 2, ZERO_PADDING: 3,
  HP_ALGID: 0x1, HP_HASHVAL: 0x2, HP_HASHSIZE: 0x4, HP_HMAC_INFO: 0x5, HP_TLS1PRF_LABEL: 0x6, HP_TLS1PRF_SEED: 0x7,
  SIMPLEBLOB: 0x1, PUBLICKEYBLOB: 0x6, PRIVATEKEYBLOB: 0x7, PLAINTEXTKEYBLOB: 0x8, OPAQUEKEYBLOB: 0x9, PUBLICKEYBLOBEX: 0xa,
  SYMMETRICWRAPKEYBLOB: 0xb, CUR_BLOB_VERSION: 2,
  RSA1_MAGIC: 0x31415352, RSA2_MAGIC: 0x32415352, DSS1_MAGIC: 0x31535344, DSS2_MAGIC: 0x32535344,
  CRYPT_FLAG_PCT1: 0x1, CRYPT_FLAG_SSL2: 0x2, CRYPT_FLAG_SSL3: 0x4, CRYPT_FLAG_TLS1: 0x8, CRYPT_FLAG_IPSEC: 0x10, CRYPT_FLAG_SIGNING: 0x20,
};

const STRINGS: Record<string, string> = {
  MS_SCARD_PROV: 'Microsoft Base Smart Card Crypto Provider',
  MS_DEF_PROV: 'Microsoft Base Cryptographic Provider v1.0',
  MS_ENHANCED_PROV: 'Microsoft Enhanced Cryptographic Provider v1.0',
  MS_STRONG_PROV: 'Microsoft Strong Cryptographic Provider',
  MS_ENH_RSA_AES_PROV: 'Microsoft Enhanced RSA and AES Cryptographic Provider',
};

const exported = csp as unknown as Record<string, unknown>;

describe('csp-legacy constants', () => {
  it(`has the reference's value for ${Object.keys(NUMBERS).length} numeric constants`, () => {
    for (const [name, value] of Object.entries(NUMBERS)) assert.equal(exported[name], value, name);
  });

  it('has the SDK spelling of the provider names', () => {
    for (const [name, value] of Object.entries(STRINGS)) assert.equal(exported[name], value, name);
  });

  it('spot-checks the flags the smart-card CSP depends on', () => {
    assert.equal(csp.CRYPT_SILENT, 0x40);
    assert.equal(csp.PP_UI_PROMPT, 0x15);
    assert.equal(csp.CRYPT_DEFAULT_CONTAINER_OPTIONAL, 0x80);
    assert.equal(csp.CRYPT_VERIFYCONTEXT, 0xf0000000);
    assert.ok(csp.CRYPT_VERIFYCONTEXT > 0, 'flags are unsigned');
  });

  it('reuses the minidriver definitions of hash ALG_IDs, key specs and blob header values', () => {
    for (const name of ['CALG_MD5', 'CALG_SHA1', 'CALG_SSL3_SHAMD5', 'CALG_SHA_256', 'CALG_SHA_384', 'CALG_SHA_512', 'CALG_RSA_SIGN',
      'CALG_RSA_KEYX', 'AT_KEYEXCHANGE', 'AT_SIGNATURE', 'PUBLICKEYBLOB', 'PRIVATEKEYBLOB', 'CUR_BLOB_VERSION', 'RSA1_MAGIC', 'RSA2_MAGIC']) {
      assert.equal(exported[name], (minidriver as unknown as Record<string, unknown>)[name], name);
    }
  });

  it('every CALG_* splits into the class and type the reference gives (GET_ALG_CLASS / GET_ALG_TYPE)', () => {
    const classOf: Record<string, number> = {
      CALG_RSA_KEYX: 0xa000, CALG_RSA_SIGN: 0x2000, CALG_AES_256: 0x6000, CALG_RC4: 0x6000, CALG_SHA_256: 0x8000,
      CALG_DSS_SIGN: 0x2000, CALG_ECDSA: 0x2000, CALG_ECDH: 0xa000, CALG_ECDH_EPHEM: 0xa000,
    };
    for (const [name, cls] of Object.entries(classOf)) assert.equal(csp.GET_ALG_CLASS(exported[name] as number), cls, name);
    assert.equal(csp.GET_ALG_TYPE(csp.CALG_RSA_KEYX), csp.ALG_TYPE_RSA);
    assert.equal(csp.GET_ALG_TYPE(csp.CALG_AES_128), csp.ALG_TYPE_BLOCK);
    assert.equal(csp.GET_ALG_TYPE(csp.CALG_RC4), csp.ALG_TYPE_STREAM);
    assert.equal(csp.GET_ALG_TYPE(csp.CALG_DSS_SIGN), csp.ALG_TYPE_DSS);
    assert.equal(csp.GET_ALG_SID(csp.CALG_AES_256), 0x10);
    assert.equal(csp.GET_ALG_CLASS(csp.CALG_AES_128) | csp.GET_ALG_TYPE(csp.CALG_AES_128) | csp.GET_ALG_SID(csp.CALG_AES_128), csp.CALG_AES_128);
  });

  it('defines every CALG_* value once: no two CALG names share a number except the CALG_SHA alias', () => {
    const byValue = new Map<number, string[]>();
    for (const [name, value] of Object.entries(exported)) {
      if (name.startsWith('CALG_') && typeof value === 'number') byValue.set(value, [...(byValue.get(value) ?? []), name]);
    }
    for (const [value, names] of byValue) {
      if (value === 0x8004) assert.deepEqual(names.sort(), ['CALG_SHA', 'CALG_SHA1']);
      else assert.equal(names.length, 1, names.join(', '));
    }
  });
});
