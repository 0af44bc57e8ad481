/**
 * CryptoAPI constants of the CSP front end (wincrypt.h), by their Windows names and values.
 * Source: ../shared/reference/cryptoapi-cng.md §1.1–§1.7 (and §3.6 for PROV_ENUMALGS_EX protocols).
 *
 * Why one module: ported CryptoAPI code passes these numbers verbatim. The ALG_IDs, key specs and blob
 * header values the minidriver already uses are re-exported, not redefined, so each value has one
 * definition and `export *` of both layers from the package root stays unambiguous.
 */

export {
  AT_KEYEXCHANGE, AT_SIGNATURE,
  CALG_MD5, CALG_SHA1, CALG_SSL3_SHAMD5, CALG_SHA_256, CALG_SHA_384, CALG_SHA_512, CALG_RSA_SIGN, CALG_RSA_KEYX,
  PUBLICKEYBLOB, PRIVATEKEYBLOB, CUR_BLOB_VERSION, RSA1_MAGIC, RSA2_MAGIC,
} from '../minidriver/constants.js';
import { CALG_SHA1 } from '../minidriver/constants.js';

// --- CryptAcquireContext flags (§1.1) ---
export const CRYPT_VERIFYCONTEXT = 0xf0000000;
export const CRYPT_NEWKEYSET = 0x00000008;
export const CRYPT_DELETEKEYSET = 0x00000010;
export const CRYPT_MACHINE_KEYSET = 0x00000020;
export const CRYPT_SILENT = 0x00000040;
/** Smart-card CSPs: a context with no container (hashing and symmetric work only). */
export const CRYPT_DEFAULT_CONTAINER_OPTIONAL = 0x00000080;

// --- Key flags: low word of CryptGenKey / CryptDeriveKey / CryptImportKey dwFlags (§1.1) ---
export const CRYPT_EXPORTABLE = 0x00000001;
export const CRYPT_USER_PROTECTED = 0x00000002;
export const CRYPT_CREATE_SALT = 0x00000004;
export const CRYPT_UPDATE_KEY = 0x00000008;
export const CRYPT_NO_SALT = 0x00000010;
export const CRYPT_PREGEN = 0x00000040;
/** PLAINTEXTKEYBLOB import of any key length. */
export const CRYPT_IPSEC_HMAC_KEY = 0x00000100;
export const CRYPT_SERVER = 0x00000400;
export const CRYPT_USER_KEYSET = 0x00001000;
export const CRYPT_SGCKEY = 0x00002000;
export const CRYPT_ARCHIVABLE = 0x00004000;
export const CRYPT_FORCE_KEY_PROTECTION_HIGH = 0x00008000;

// --- CryptExportKey / CryptEncrypt / CryptDecrypt flags (§1.1) ---
export const CRYPT_Y_ONLY = 0x00000001;
export const CRYPT_SSL2_FALLBACK = 0x00000002;
export const CRYPT_DESTROYKEY = 0x00000004;
export const CRYPT_DECRYPT_RSA_NO_PADDING_CHECK = 0x00000020;
export const CRYPT_OAEP = 0x00000040;
export const CRYPT_BLOB_VER3 = 0x00000080;

// --- CryptSignHash / CryptVerifySignature flags (§1.1) ---
export const CRYPT_NOHASHOID = 0x00000001;
export const CRYPT_TYPE2_FORMAT = 0x00000002;
export const CRYPT_X931_FORMAT = 0x00000004;

// --- CryptHashData, CryptHashSessionKey (§1.1) ---
export const CRYPT_USERDATA = 0x00000001;
export const CRYPT_LITTLE_ENDIAN = 0x00000001;

// --- Enumeration (PP_ENUMALGS, PP_ENUMCONTAINERS ...) (§1.1) ---
export const CRYPT_FIRST = 1;
export const CRYPT_NEXT = 2;
export const CRYPT_SGC_ENUM = 4;

// --- CryptSetProviderEx default-provider flags (§1.1) ---
export const CRYPT_MACHINE_DEFAULT = 0x00000001;
export const CRYPT_USER_DEFAULT = 0x00000002;
export const CRYPT_DELETE_DEFAULT = 0x00000004;

// --- Provider types (§1.1); CryptAcquireContext accepts 1..999 ---
export const PROV_RSA_FULL = 1;
export const PROV_RSA_SIG = 2;
export const PROV_DSS = 3;
export const PROV_RSA_SCHANNEL = 12;
export const PROV_DSS_DH = 13;
export const PROV_DH_SCHANNEL = 18;
export const PROV_RSA_AES = 24;

// --- PP_IMPTYPE values (§1.1) ---
export const CRYPT_IMPL_HARDWARE = 1;
export const CRYPT_IMPL_SOFTWARE = 2;
export const CRYPT_IMPL_MIXED = 3;
export const CRYPT_IMPL_UNKNOWN = 4;
export const CRYPT_IMPL_REMOVABLE = 8;

// --- PP_KEYSTORAGE bits (§1.1) ---
export const CRYPT_SEC_DESCR = 0x00000001;
export const CRYPT_PSTORE = 0x00000002;
export const CRYPT_UI_PROMPT = 0x00000004;

// --- ALG_ID structure (§1.2) ---
export const ALG_CLASS_SIGNATURE = 0x2000;
export const ALG_CLASS_MSG_ENCRYPT = 0x4000;
export const ALG_CLASS_DATA_ENCRYPT = 0x6000;
export const ALG_CLASS_HASH = 0x8000;
export const ALG_CLASS_KEY_EXCHANGE = 0xa000;
export const ALG_TYPE_DSS = 0x0200;
export const ALG_TYPE_RSA = 0x0400;
export const ALG_TYPE_BLOCK = 0x0600;
export const ALG_TYPE_STREAM = 0x0800;
export const ALG_TYPE_DH = 0x0a00;
export const ALG_TYPE_SECURECHANNEL = 0x0c00;
export const GET_ALG_CLASS = (algId: number): number => algId & 0xe000;
export const GET_ALG_TYPE = (algId: number): number => algId & 0x1e00;
export const GET_ALG_SID = (algId: number): number => algId & 0x01ff;

// --- ALG_IDs not already defined by the minidriver (§1.2) ---
export const CALG_AES_128 = 0x660e;
export const CALG_AES_192 = 0x660f;
export const CALG_AES_256 = 0x6610;
/** AES of unspecified key size. */
export const CALG_AES = 0x6611;
export const CALG_3DES = 0x6603;
export const CALG_3DES_112 = 0x6609;
export const CALG_DES = 0x6601;
export const CALG_RC2 = 0x6602;
export const CALG_RC4 = 0x6801;
export const CALG_MD2 = 0x8001;
export const CALG_MD4 = 0x8002;
/** wincrypt.h's older name for CALG_SHA1. */
export const CALG_SHA = CALG_SHA1;
export const CALG_MAC = 0x8005;
export const CALG_HMAC = 0x8009;
export const CALG_TLS1PRF = 0x800a;
export const CALG_DSS_SIGN = 0x2200;
export const CALG_NO_SIGN = 0x2000;
export const CALG_ECDSA = 0x2203;
export const CALG_ECDH = 0xaa05;
export const CALG_ECDH_EPHEM = 0xae06;
export const CALG_DH_EPHEM = 0xaa02;

// --- PP_*: CryptGetProvParam / CryptSetProvParam (§1.3) ---
export const PP_ENUMALGS = 0x01;
/** Set-only; the same number as PP_ENUMALGS, which is get-only. */
export const PP_CLIENT_HWND = 0x01;
export const PP_ENUMCONTAINERS = 0x02;
export const PP_IMPTYPE = 0x03;
export const PP_NAME = 0x04;
export const PP_VERSION = 0x05;
export const PP_CONTAINER = 0x06;
export const PP_KEYSET_SEC_DESCR = 0x08;
export const PP_CERTCHAIN = 0x09;
export const PP_PROVTYPE = 0x10;
export const PP_KEYSTORAGE = 0x11;
export const PP_SYM_KEYSIZE = 0x13;
export const PP_SESSION_KEYSIZE = 0x14;
/** Set-only: UTF-16 prompt for card insertion. */
export const PP_UI_PROMPT = 0x15;
export const PP_ENUMALGS_EX = 0x16;
export const PP_DELETEKEY = 0x18;
export const PP_KEYSET_TYPE = 0x1b;
export const PP_ADMIN_PIN = 0x1f;
export const PP_KEYEXCHANGE_PIN = 0x20;
export const PP_SIGNATURE_PIN = 0x21;
export const PP_SIG_KEYSIZE_INC = 0x22;
export const PP_KEYX_KEYSIZE_INC = 0x23;
export const PP_UNIQUE_CONTAINER = 0x24;
export const PP_USE_HARDWARE_RNG = 0x26;
export const PP_KEYSPEC = 0x27;
export const PP_ENUMEX_SIGNING_PROT = 0x28;
export const PP_CRYPT_COUNT_KEY_USE = 0x29;
export const PP_USER_CERTSTORE = 0x2a;
export const PP_SMARTCARD_READER = 0x2b;
export const PP_PIN_PROMPT_STRING = 0x2c;
export const PP_SMARTCARD_GUID = 0x2d;
export const PP_ROOT_CERTSTORE = 0x2e;
/** Get-only; the same number as PP_SECURE_KEYEXCHANGE_PIN, which is set-only. */
export const PP_SMARTCARD_READER_ICON = 0x2f;
export const PP_SECURE_KEYEXCHANGE_PIN = 0x2f;
export const PP_SECURE_SIGNATURE_PIN = 0x30;

// --- KP_*: CryptGetKeyParam / CryptSetKeyParam (§1.4) ---
export const KP_IV = 1;
export const KP_SALT = 2;
export const KP_PADDING = 3;
export const KP_MODE = 4;
export const KP_MODE_BITS = 5;
export const KP_PERMISSIONS = 6;
export const KP_ALGID = 7;
export const KP_BLOCKLEN = 8;
export const KP_KEYLEN = 9;
export const KP_SALT_EX = 10;
export const KP_P = 11;
export const KP_G = 12;
export const KP_Q = 13;
export const KP_X = 14;
export const KP_Y = 15;
export const KP_EFFECTIVE_KEYLEN = 19;
export const KP_SCHANNEL_ALG = 20;
export const KP_CLIENT_RANDOM = 21;
export const KP_SERVER_RANDOM = 22;
/** DER X.509 certificate of the key. */
export const KP_CERTIFICATE = 26;
export const KP_CLEAR_KEY = 27;
export const KP_PUB_EX_LEN = 28;
export const KP_PUB_EX_VAL = 29;
export const KP_KEYVAL = 30;
export const KP_ADMIN_PIN = 31;
export const KP_KEYEXCHANGE_PIN = 32;
export const KP_SIGNATURE_PIN = 33;
export const KP_OAEP_PARAMS = 36;
export const KP_PIN_ID = 43;
export const KP_PIN_INFO = 44;

// --- KP_PERMISSIONS bits (§1.4) ---
export const CRYPT_ENCRYPT = 0x0001;
export const CRYPT_DECRYPT = 0x0002;
export const CRYPT_EXPORT = 0x0004;
export const CRYPT_READ = 0x0008;
export const CRYPT_WRITE = 0x0010;
export const CRYPT_MAC = 0x0020;
export const CRYPT_EXPORT_KEY = 0x0040;
export const CRYPT_IMPORT_KEY = 0x0080;
export const CRYPT_ARCHIVE = 0x0100;

// --- KP_MODE values (§1.4) ---
export const CRYPT_MODE_CBC = 1;
export const CRYPT_MODE_ECB = 2;
export const CRYPT_MODE_OFB = 3;
export const CRYPT_MODE_CFB = 4;

// --- KP_PADDING values (§1.4) ---
export const PKCS5_PADDING = 1;
export const RANDOM_PADDING = 2;
export const ZERO_PADDING = 3;

// --- HP_*: CryptGetHashParam / CryptSetHashParam (§1.5) ---
export const HP_ALGID = 0x0001;
export const HP_HASHVAL = 0x0002;
export const HP_HASHSIZE = 0x0004;
export const HP_HMAC_INFO = 0x0005;
export const HP_TLS1PRF_LABEL = 0x0006;
export const HP_TLS1PRF_SEED = 0x0007;

// --- BLOBHEADER.bType values not already defined by the minidriver (§1.6) ---
export const SIMPLEBLOB = 0x1;
export const PLAINTEXTKEYBLOB = 0x8;
export const OPAQUEKEYBLOB = 0x9;
export const PUBLICKEYBLOBEX = 0xa;
export const SYMMETRICWRAPKEYBLOB = 0xb;
/**
 * DSS key blob magics. wincrypt.h has no macro for them; the names follow RSA1_MAGIC / RSA2_MAGIC.
 * Read as little-endian u32 they are the ASCII "DSS1" / "DSS2".
 */
export const DSS1_MAGIC = 0x31535344;
export const DSS2_MAGIC = 0x32535344;

// --- PROV_ENUMALGS_EX.dwProtocols bits (§3.6) ---
export const CRYPT_FLAG_PCT1 = 0x0001;
export const CRYPT_FLAG_SSL2 = 0x0002;
export const CRYPT_FLAG_SSL3 = 0x0004;
export const CRYPT_FLAG_TLS1 = 0x0008;
export const CRYPT_FLAG_IPSEC = 0x0010;
export const CRYPT_FLAG_SIGNING = 0x0020;

// --- Provider names (§1.7) ---
/** The SDK spelling; Wine 8's "...Cryptographic Provider" is wrong and would not be found by name. */
export const MS_SCARD_PROV = 'Microsoft Base Smart Card Crypto Provider';
export const MS_DEF_PROV = 'Microsoft Base Cryptographic Provider v1.0';
export const MS_ENHANCED_PROV = 'Microsoft Enhanced Cryptographic Provider v1.0';
export const MS_STRONG_PROV = 'Microsoft Strong Cryptographic Provider';
export const MS_ENH_RSA_AES_PROV = 'Microsoft Enhanced RSA and AES Cryptographic Provider';
