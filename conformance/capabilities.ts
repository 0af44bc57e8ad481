/**
 * The probe: what the target can do, read once before any case runs, so that a case the token cannot
 * do is "not applicable" instead of failed. Everything here only reads; the PIN is asked only when the
 * token shows no container before login (some tokens hide every object until the user logs in).
 *
 * Two sources: the minidriver (what the front ends see: read-only mode, key sizes, key import, the
 * container map and certificate files) and the PKCS#11 module itself (mechanism list and sizes, the
 * token's PIN flags), which the minidriver contract has no call for.
 */
import {
  AT_KEYEXCHANGE, AT_SIGNATURE, CARD_KEY_IMPORT_PLAIN_TEXT, CREATE_PIN_SET, PUBLICKEYBLOB, ROLE_USER, szBASE_CSP_DIR, szCONTAINER_MAP_FILE,
  wszCARD_USER_USER,
} from '../minidriver/constants.js';
import type { CardModule } from '../minidriver/card-module.js';
import { certificateFileName, curveByMagic, decodeCmapFile } from '../minidriver/codecs/index.js';
import { acquireModule, releaseModule } from '../pkcs11-bridge/index.js';
import { pk, type PKCS11, type Pkcs11Handle } from '../pkcs11-bridge/pkcs11.js';
import { tokenIdentity } from '../pkcs11-bridge/token.js';
import type { EcCurve, ExistingContainer, TargetCapabilities } from './case.js';
import { acquireCardModule, OWN_CONTAINER_PREFIX, type RunPin } from './context.js';
import type { OpenTarget } from './target.js';

/** The RSA sizes the suite knows about (the report's vocabulary). */
const RSA_SIZES = [1024, 2048, 3072, 4096] as const;
const CURVE_BITS: Readonly<Record<EcCurve, number>> = { 'P-256': 256, 'P-384': 384, 'P-521': 521 };

/** Every CKM_* name of a value (pkcs11js has aliases such as CKM_ECDSA_KEY_PAIR_GEN = CKM_EC_KEY_PAIR_GEN). */
const MECHANISM_NAMES: ReadonlyMap<number, readonly string[]> = (() => {
  const names = new Map<number, string[]>();
  for (const [name, value] of Object.entries(pk as unknown as Record<string, unknown>)) {
    if (!name.startsWith('CKM_') || typeof value !== 'number') continue;
    names.set(value, [...(names.get(value) ?? []), name]);
  }
  return names;
})();

const PIN_COUNTER_FLAGS = pk.CKF_USER_PIN_COUNT_LOW | pk.CKF_USER_PIN_FINAL_TRY | pk.CKF_USER_PIN_LOCKED;

interface SizeRange {
  min: number;
  max: number;
}

/** What the module says about the token: flags, mechanism names, and the size ranges of the key mechanisms. */
interface ModuleFacts {
  flags: number;
  mechanisms: Set<string>;
  ranges: Map<string, SizeRange>;
}

function findSlot(pkcs11: PKCS11, label: string, serial: string): Pkcs11Handle | undefined {
  for (const slot of pkcs11.C_GetSlotList(true)) {
    const id = tokenIdentity(pkcs11.C_GetTokenInfo(slot));
    if (id.label === label && id.serial === serial) return slot;
  }
  return undefined;
}

function readModuleFacts(open: OpenTarget): ModuleFacts {
  // The service's driver holds the module already; this adds a reference and drops it again.
  const module = acquireModule(open.modulePath);
  try {
    const { pkcs11 } = module;
    const slot = findSlot(pkcs11, open.identity.label, open.identity.serial);
    if (!slot) return { flags: 0, mechanisms: new Set(), ranges: new Map() };
    const flags = pkcs11.C_GetTokenInfo(slot).flags;
    const mechanisms = new Set<string>();
    const ranges = new Map<string, SizeRange>();
    for (const value of pkcs11.C_GetMechanismList(slot)) {
      const names = MECHANISM_NAMES.get(value) ?? [`CKM_0x${value.toString(16).padStart(8, '0')}`];
      let range: SizeRange | undefined;
      try {
        const info = pkcs11.C_GetMechanismInfo(slot, value);
        range = { min: info.minKeySize, max: info.maxKeySize };
      } catch {
        range = undefined; // a mechanism without info is still listed
      }
      for (const name of names) {
        mechanisms.add(name);
        if (range) ranges.set(name, range);
      }
    }
    return { flags, mechanisms, ranges };
  } finally {
    releaseModule(module);
  }
}

/** A mechanism's size range covers a key size. Some modules give EC sizes in bytes, some in bits. */
function covers(range: SizeRange | undefined, bits: number): boolean {
  if (!range) return true; // listed without sizes: the module does not restrict
  if (range.max === 0) return true;
  const inRange = (v: number): boolean => v >= range.min && v <= range.max;
  return inRange(bits) || inRange(Math.ceil(bits / 8));
}

type KeyFact = ExistingContainer['keys'][number];

/** Algorithm and size of a CONTAINER_INFO public key blob (PUBLICKEYBLOB or BCRYPT_ECCKEY_BLOB). */
function keyOfBlob(blob: Buffer, keySpec: number): KeyFact | undefined {
  if (blob.length >= 20 && blob[0] === PUBLICKEYBLOB) {
    return { keySpec, algorithm: 'RSA', bits: blob.readUInt32LE(12) }; // BLOBHEADER (8) + magic (4) + bitlen
  }
  if (blob.length >= 8) {
    const ecc = curveByMagic(blob.readUInt32LE(0));
    if (ecc) return { keySpec: ecc.usage === 'ECDSA' ? ecc.curve.ecdsaKeySpec : ecc.curve.ecdhKeySpec, algorithm: ecc.usage, bits: CURVE_BITS[ecc.curve.name] };
  }
  return undefined;
}

/** The containers on the card (not the suite's own), with their keys and whether a certificate goes with them. */
async function readContainers(md: CardModule): Promise<ExistingContainer[]> {
  const records = decodeCmapFile(await md.CardReadFile(szBASE_CSP_DIR, szCONTAINER_MAP_FILE));
  const files = new Set(await md.CardEnumFiles(szBASE_CSP_DIR, 0).catch(() => [] as string[]));
  const containers: ExistingContainer[] = [];
  for (const [index, record] of records.entries()) {
    if (!record || !(record.bFlags & 1) || record.wszGuid.startsWith(OWN_CONTAINER_PREFIX)) continue;
    const info = await md.CardGetContainerInfo(index, 0);
    const keys: KeyFact[] = [];
    if (info.pbKeyExPublicKey) {
      const key = keyOfBlob(info.pbKeyExPublicKey, AT_KEYEXCHANGE);
      if (key) keys.push(key);
    }
    if (info.pbSigPublicKey) {
      const key = keyOfBlob(info.pbSigPublicKey, AT_SIGNATURE);
      if (key) keys.push(key);
    }
    const hasCertificate = keys.some((k) => {
      try {
        return files.has(certificateFileName(k.keySpec, index));
      } catch {
        return false;
      }
    });
    containers.push({ name: record.wszGuid, keys, hasCertificate });
  }
  return containers;
}

/** RSA sizes: those the card generates (writable) or, on a read-only card, those its keys have. */
async function rsaSizes(md: CardModule, facts: ModuleFacts, readOnly: boolean, containers: ExistingContainer[]): Promise<number[]> {
  if (readOnly) {
    const held = new Set(containers.flatMap((c) => c.keys.filter((k) => k.algorithm === 'RSA').map((k) => k.bits)));
    return RSA_SIZES.filter((bits) => held.has(bits));
  }
  if (!facts.mechanisms.has('CKM_RSA_PKCS_KEY_PAIR_GEN')) return [];
  const sizes = await md.CardQueryKeySizes(AT_KEYEXCHANGE, 0).catch(() => undefined);
  if (!sizes) return [];
  const gen = facts.ranges.get('CKM_RSA_PKCS_KEY_PAIR_GEN');
  return RSA_SIZES.filter((bits) => bits >= sizes.dwMinimumBitlen && bits <= sizes.dwMaximumBitlen
    && (sizes.dwIncrementalBitlen === 0 || (bits - sizes.dwMinimumBitlen) % sizes.dwIncrementalBitlen === 0)
    && covers(gen, bits));
}

/** Curves the token signs or agrees on, and generates (writable) or holds a key on (read-only). */
function ecCurves(facts: ModuleFacts, readOnly: boolean, containers: ExistingContainer[]): EcCurve[] {
  const usable = (bits: number): boolean => ['CKM_ECDSA', 'CKM_ECDH1_DERIVE'].some((m) => facts.mechanisms.has(m) && covers(facts.ranges.get(m), bits));
  const held = new Set(containers.flatMap((c) => c.keys.filter((k) => k.algorithm !== 'RSA').map((k) => k.bits)));
  const generates = (bits: number): boolean => facts.mechanisms.has('CKM_EC_KEY_PAIR_GEN') && covers(facts.ranges.get('CKM_EC_KEY_PAIR_GEN'), bits);
  return (Object.keys(CURVE_BITS) as EcCurve[]).filter((curve) => {
    const bits = CURVE_BITS[curve];
    return usable(bits) && (readOnly ? held.has(bits) : generates(bits));
  });
}

/**
 * Probes the target. `pin` is used only when the token lists no container before login and says it
 * requires one (CKF_LOGIN_REQUIRED): then the containers are read again after CardAuthenticatePin.
 */
export async function probeCapabilities(open: OpenTarget, pin: RunPin): Promise<TargetCapabilities> {
  const facts = readModuleFacts(open);
  const md = await acquireCardModule(open);
  try {
    const readOnly = await md.CardGetProperty('Read Only Mode');
    const keyImport = ((await md.CardGetProperty('Key Import Support').catch(() => 0)) & CARD_KEY_IMPORT_PLAIN_TEXT) !== 0;
    const pinInfo = await md.CardGetProperty('PIN Information', ROLE_USER).catch(() => undefined);
    let containers = await readContainers(md);
    if (containers.length === 0 && (facts.flags & pk.CKF_LOGIN_REQUIRED)) {
      await pin.use((bytes) => md.CardAuthenticatePin(wszCARD_USER_USER, bytes));
      containers = await readContainers(md);
    }
    const changeByUser = pinInfo !== undefined && (pinInfo.dwChangePermission & CREATE_PIN_SET(ROLE_USER)) !== 0;
    return {
      readOnly,
      rsaKeySizes: await rsaSizes(md, facts, readOnly, containers),
      ecCurves: ecCurves(facts, readOnly, containers),
      mechanisms: facts.mechanisms,
      // C_SetPIN needs a writable token and a PIN typed on the host (not a PIN pad).
      pinChange: changeByUser && !readOnly && !(facts.flags & (pk.CKF_WRITE_PROTECTED | pk.CKF_PROTECTED_AUTHENTICATION_PATH)),
      // PKCS#11 shows a retry counter only through these flags; a token that never sets them has none
      // the suite can watch (SoftHSM2 locks never).
      pinRetryCounter: (facts.flags & PIN_COUNTER_FLAGS) !== 0,
      keyImport: keyImport && !readOnly,
      existingContainers: containers,
    };
  } finally {
    await md.CardDeleteContext().catch(() => undefined);
  }
}
