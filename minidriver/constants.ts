/**
 * Constants of the card minidriver specification v7 (cardmod.h), by their Windows names and values.
 * Source: ../shared/reference/minidriver.md §2–§7.
 */

// Versions (CARD_DATA.dwVersion)
export const CARD_DATA_VERSION_FOUR = 4;
export const CARD_DATA_VERSION_FIVE = 5;
export const CARD_DATA_VERSION_SIX = 6;
export const CARD_DATA_VERSION_SEVEN = 7;
export const CARD_DATA_CURRENT_VERSION = CARD_DATA_VERSION_SEVEN;
export const SCARD_PROVIDER_CARD_MODULE = 0x80000001;
export const CARD_DATA_VALUE_UNKNOWN = 0xffffffff;

// CardAcquireContext flags
export const CARD_SECURE_KEY_INJECTION_NO_CARD_MODE = 0x1;

// Key specs
export const AT_KEYEXCHANGE = 1;
export const AT_SIGNATURE = 2;
export const AT_ECDSA_P256 = 3;
export const AT_ECDSA_P384 = 4;
export const AT_ECDSA_P521 = 5;
export const AT_ECDHE_P256 = 6;
export const AT_ECDHE_P384 = 7;
export const AT_ECDHE_P521 = 8;

// CardCreateContainer flags
export const CARD_CREATE_CONTAINER_KEY_GEN = 1;
export const CARD_CREATE_CONTAINER_KEY_IMPORT = 2;

// cmapfile
export const MAX_CONTAINER_NAME_LEN = 39;
export const CONTAINER_MAP_VALID_CONTAINER = 1;
export const CONTAINER_MAP_DEFAULT_CONTAINER = 2;

// Card file system names
export const szBASE_CSP_DIR = 'mscp';
export const szCACHE_FILE = 'cardcf';
export const szCARD_IDENTIFIER_FILE = 'cardid';
export const szCARD_APPS = 'cardapps';
export const szCONTAINER_MAP_FILE = 'cmapfile';
export const szROOT_STORE_FILE = 'msroots';
export const szUSER_SIGNATURE_CERT_PREFIX = 'ksc';
export const szUSER_KEYEXCHANGE_CERT_PREFIX = 'kxc';
/** File and directory names are at most 8 ANSI characters. */
export const MAX_FILE_NAME_LEN = 8;

// cardcf freshness masks (what a mutation bumps)
export const CARD_CACHE_PINS = 1;
export const CARD_CACHE_CONTAINERS = 2;
export const CARD_CACHE_FILES = 4;

// Access conditions
export const InvalidDirAc = 0;
export const UserCreateDeleteDirAc = 1;
export const AdminCreateDeleteDirAc = 2;
export const InvalidAc = 0;
export const EveryoneReadUserWriteAc = 1;
export const UserWriteExecuteAc = 2;
export const EveryoneReadAdminWriteAc = 3;
export const UnknownAc = 4;
export const UserReadWriteAc = 5;
export const AdminReadWriteAc = 6;

// Signing / decrypt
export const CARD_PADDING_INFO_PRESENT = 0x40000000;
export const CARD_BUFFER_SIZE_ONLY = 0x20000000;
export const CARD_PADDING_NONE = 1;
export const CARD_PADDING_PKCS1 = 2;
export const CARD_PADDING_PSS = 4;
export const CARD_PADDING_OAEP = 8;
export const CARD_SIGNING_INFO_BASIC_VERSION = 1;
export const CARD_SIGNING_INFO_CURRENT_VERSION = 2;
export const CARD_RSA_KEY_DECRYPT_INFO_VERSION_ONE = 1;
export const CARD_RSA_KEY_DECRYPT_INFO_VERSION_TWO = 2;
export const CARD_RSA_KEY_DECRYPT_INFO_CURRENT_VERSION = 2;
export const CARD_DH_AGREEMENT_INFO_VERSION = 2;
export const CARD_DERIVE_KEY_VERSION = 1;
export const CARD_DERIVE_KEY_VERSION_TWO = 2;
export const CARD_DERIVE_KEY_CURRENT_VERSION = 2;
export const CARD_RETURN_KEY_HANDLE = 0x1000000;

// Hash ALG_IDs a card signs for (CARD_SIGNING_INFO.aiHashAlg)
export const CALG_MD5 = 0x8003;
export const CALG_SHA1 = 0x8004;
export const CALG_SSL3_SHAMD5 = 0x8008;
export const CALG_SHA_256 = 0x800c;
export const CALG_SHA_384 = 0x800d;
export const CALG_SHA_512 = 0x800e;

// CAPI key ALG_IDs inside PUBLICKEYBLOB
export const CALG_RSA_SIGN = 0x2400;
export const CALG_RSA_KEYX = 0xa400;

// Key blobs
export const PUBLICKEYBLOB = 0x6;
export const PRIVATEKEYBLOB = 0x7;
export const CUR_BLOB_VERSION = 2;
export const RSA1_MAGIC = 0x31415352; // "RSA1": public
export const RSA2_MAGIC = 0x32415352; // "RSA2": private
export const BCRYPT_ECDH_PUBLIC_P256_MAGIC = 0x314b4345;
export const BCRYPT_ECDH_PRIVATE_P256_MAGIC = 0x324b4345;
export const BCRYPT_ECDH_PUBLIC_P384_MAGIC = 0x334b4345;
export const BCRYPT_ECDH_PRIVATE_P384_MAGIC = 0x344b4345;
export const BCRYPT_ECDH_PUBLIC_P521_MAGIC = 0x354b4345;
export const BCRYPT_ECDH_PRIVATE_P521_MAGIC = 0x364b4345;
export const BCRYPT_ECDSA_PUBLIC_P256_MAGIC = 0x31534345;
export const BCRYPT_ECDSA_PRIVATE_P256_MAGIC = 0x32534345;
export const BCRYPT_ECDSA_PUBLIC_P384_MAGIC = 0x33534345;
export const BCRYPT_ECDSA_PRIVATE_P384_MAGIC = 0x34534345;
export const BCRYPT_ECDSA_PUBLIC_P521_MAGIC = 0x35534345;
export const BCRYPT_ECDSA_PRIVATE_P521_MAGIC = 0x36534345;

// PINs
export const MAX_PINS = 8;
export const ROLE_EVERYONE = 0;
export const ROLE_USER = 1;
export const ROLE_ADMIN = 2;
export const PIN_SET_NONE = 0;
export const PIN_SET_ALL_ROLES = 0xff;
export const CREATE_PIN_SET = (pinId: number): number => (1 << pinId) >>> 0;
export const wszCARD_USER_EVERYONE = 'anonymous';
export const wszCARD_USER_USER = 'user';
export const wszCARD_USER_ADMIN = 'admin';
export const PIN_INFO_CURRENT_VERSION = 6;
export const PIN_CACHE_POLICY_CURRENT_VERSION = 6;
export const PIN_INFO_REQUIRE_SECURE_ENTRY = 1;
export const CARD_AUTHENTICATE_GENERATE_SESSION_PIN = 0x10000000;
export const CARD_AUTHENTICATE_SESSION_PIN = 0x20000000;
export const CARD_PIN_SILENT_CONTEXT = 0x40;
export const CARD_AUTHENTICATE_PIN_CHALLENGE_RESPONSE = 1;
export const CARD_AUTHENTICATE_PIN_PIN = 2;
export const PIN_CHANGE_FLAG_UNBLOCK = 1;
export const PIN_CHANGE_FLAG_CHANGEPIN = 2;

// SECRET_TYPE
export const AlphaNumericPinType = 0;
export const ExternalPinType = 1;
export const ChallengeResponsePinType = 2;
export const EmptyPinType = 3;
// SECRET_PURPOSE
export const AuthenticationPin = 0;
export const DigitalSignaturePin = 1;
export const EncryptionPin = 2;
export const NonRepudiationPin = 3;
export const AdministratorPin = 4;
export const PrimaryCardPin = 5;
export const UnblockOnlyPin = 6;
// PIN_CACHE_POLICY_TYPE
export const PinCacheNormal = 0;
export const PinCacheTimed = 1;
export const PinCacheNone = 2;
export const PinCacheAlwaysPrompt = 3;

// CP_CARD_CACHE_MODE values
export const CP_CACHE_MODE_GLOBAL_CACHE = 1;
export const CP_CACHE_MODE_SESSION_ONLY = 2;
export const CP_CACHE_MODE_NO_CACHE = 3;
// CP_CARD_PIN_STRENGTH_* values
export const CARD_PIN_STRENGTH_PLAINTEXT = 1;
export const CARD_PIN_STRENGTH_SESSION_PIN = 2;
// CP_KEY_IMPORT_SUPPORT bits
export const CARD_KEY_IMPORT_PLAIN_TEXT = 1;
export const CARD_KEY_IMPORT_RSA_KEYEST = 2;
export const CARD_KEY_IMPORT_ECC_KEYEST = 4;
export const CARD_KEY_IMPORT_SHARED_SYMMETRIC = 8;

// Card properties (UTF-16 names)
export const CP_CARD_FREE_SPACE = 'Free Space';
export const CP_CARD_CAPABILITIES = 'Capabilities';
export const CP_CARD_KEYSIZES = 'Key Sizes';
export const CP_CARD_READ_ONLY = 'Read Only Mode';
export const CP_CARD_CACHE_MODE = 'Cache Mode';
export const CP_SUPPORTS_WIN_X509_ENROLLMENT = 'Supports Windows x.509 Enrollment';
export const CP_CARD_GUID = 'Card Identifier';
export const CP_CARD_SERIAL_NO = 'Card Serial Number';
export const CP_CARD_PIN_INFO = 'PIN Information';
export const CP_CARD_LIST_PINS = 'PIN List';
export const CP_CARD_AUTHENTICATED_STATE = 'Authenticated State';
export const CP_CARD_PIN_STRENGTH_VERIFY = 'PIN Strength Verify';
export const CP_CARD_PIN_STRENGTH_CHANGE = 'PIN Strength Change';
export const CP_CARD_PIN_STRENGTH_UNBLOCK = 'PIN Strength Unblock';
export const CP_PARENT_WINDOW = 'Parent Window';
export const CP_PIN_CONTEXT_STRING = 'PIN Context String';
export const CP_KEY_IMPORT_SUPPORT = 'Key Import Support';
export const CP_ENUM_ALGORITHMS = 'Algorithms';
export const CP_PADDING_SCHEMES = 'Padding Schemes';
export const CP_CHAINING_MODES = 'Chaining Modes';

// Container properties
export const CCP_CONTAINER_INFO = 'Container Info';
export const CCP_PIN_IDENTIFIER = 'PIN Identifier';
export const CCP_ASSOCIATED_ECDH_KEY = 'Associated ECDH Key';
