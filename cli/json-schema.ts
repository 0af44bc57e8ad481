/**
 * The --json documents of the CLI's listings, one type per listing. Scripts depend on these shapes,
 * so each document names its schema and version (`schema: "p11-ksp/<verb>/v1"`): a field may be
 * added within a version, never renamed, removed or retyped; anything else is a new version.
 * docs/cli-json.md describes every field for people.
 *
 * Conventions: byte strings are lowercase hex without separators; times are ISO 8601 (UTC); a value
 * the card or token cannot tell is null, never a made-up default.
 */

/** How a key is held in its container: CNG's dwLegacyKeySpec (ECC keys have none). */
export type KeySpecName = 'exchange' | 'signature' | 'none';

export interface CardJson {
  reader: string;
  /** The card's ATR in hex, when the reader has one (PC/SC readers do; PKCS#11 HSM slots do not). */
  atr: string | null;
  label: string;
  serial: string;
  manufacturer: string;
  model: string;
  /** The card GUID (cardid) in Windows GUID text form, lowercase, no braces. */
  cardGuid: string;
  /** The provider registration serving the card. */
  registration: string;
  containers: { free: number; max: number };
  readOnly: boolean;
  pin: {
    /** PIN tries left; null when the card does not say (most tell only after a wrong PIN). */
    triesLeft: number | null;
    /** PIN_INFO's cache policy: "normal", "timed", "none" or "always-prompt". */
    cachePolicy: string;
  };
}

export interface CardsDocument {
  schema: 'p11-ksp/cards/v1';
  cards: CardJson[];
  /** Readers with no card, or a card no registration serves. */
  emptyReaders: string[];
}

export interface ContainerKeyJson {
  keySpec: KeySpecName;
  /** CNG algorithm id: RSA, ECDSA_P256, ECDH_P384... */
  algorithm: string;
  bits: number;
  hasCertificate: boolean;
}

export interface ContainerJson {
  reader: string;
  name: string;
  /** The card's default container (cmapfile CONTAINER_MAP_DEFAULT_CONTAINER). */
  isDefault: boolean;
  keys: ContainerKeyJson[];
}

export interface ContainersDocument {
  schema: 'p11-ksp/containers/v1';
  containers: ContainerJson[];
}

export interface CertificateJson {
  reader: string;
  container: string;
  keySpec: KeySpecName;
  subject: string;
  issuer: string;
  /** Hex, as the certificate holds it. */
  serialNumber: string;
  notBefore: string;
  notAfter: string;
  /** SHA-1 of the DER certificate, hex: certutil's "Cert Hash(sha1)". */
  sha1Thumbprint: string;
  /** Where --export wrote it; absent without --export. */
  file?: string;
}

export interface CertsDocument {
  schema: 'p11-ksp/certs/v1';
  certificates: CertificateJson[];
}

export interface CacheItemJson {
  /** The lookup name (SCardWriteCache's): Cached_ContainerInfo_00, Cached_CardProperty_..., a file. */
  name: string;
  bytes: number;
  /** The card freshness counter the item was read under; it is stale once the card's moves on. */
  freshness: number;
}

export interface CachedCardJson {
  /** The card GUID, as `cards` shows it. */
  cardGuid: string;
  items: CacheItemJson[];
  bytes: number;
}

export interface CacheDocument {
  schema: 'p11-ksp/cache/v1';
  /** The global (per-user, shared by processes) data cache. */
  global: { path: string; cards: CachedCardJson[] };
  /** What cannot be shown from another process, and why. */
  perProcess: { dataCache: string; pinCache: string };
}

/** `readers --json`: the readers (PKCS#11 slots) of one module and the card (token) in each. */
export interface ReaderJson {
  reader: string;
  cardPresent: boolean;
  /** False for a blank token (present but not initialised): not a card yet. */
  initialised: boolean;
  card: { label: string; serial: string; manufacturer: string; model: string } | null;
}

export interface ReadersDocument {
  schema: 'p11-ksp/readers/v1';
  module: string;
  /** The embedded store's folder, when the module is the embedded SoftHSM2. */
  home?: string;
  readers: ReaderJson[];
}

/** `provider list --json`: registrations in precedence order, and files that could not be read. */
export interface ProvidersDocument {
  schema: 'p11-ksp/providers/v1';
  providers: unknown[];
  problems: { file: string; error: string }[];
}
