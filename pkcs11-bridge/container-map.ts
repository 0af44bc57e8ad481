import { CONTAINER_MAP_DEFAULT_CONTAINER, CONTAINER_MAP_VALID_CONTAINER, MAX_CONTAINER_NAME_LEN } from '../minidriver/constants.js';
import type { ContainerMapRecord } from '../minidriver/codecs/index.js';
import { derivedContainerName, type KeyPair } from './key-pairs.js';

/** The keys of one container, by slot. */
export interface ContainerSlots {
  sig?: KeyPair;
  keyx?: KeyPair;
}

export interface ReconciledMap {
  records: (ContainerMapRecord | null)[];
  keys: Map<number, ContainerSlots>;
  /** True when the records differ from those given (the cmapfile must be written back). */
  changed: boolean;
}

function usableLabel(label: string): boolean {
  return label.length > 0 && label.length <= MAX_CONTAINER_NAME_LEN && !label.includes('\\') && !label.includes('\0');
}

function isValid(r: ContainerMapRecord | null): r is ContainerMapRecord {
  return r !== null && (r.bFlags & CONTAINER_MAP_VALID_CONTAINER) !== 0;
}

/**
 * Reconciles the container map against the keys really on the token (the cmapfile is written by the
 * CSP layer, but other tools add and delete keys behind its back):
 *  - a key pair whose CKA_LABEL names a container fills that container's slot for its role;
 *  - any other key pair becomes a container of its own, named by its label when that is a usable,
 *    unused container name, else by a GUID derived from its CKA_ID and the token serial;
 *  - key sizes in the records follow the keys; when `completeView` is false (not logged in, so private
 *    keys without a public object are invisible) sizes are only raised, never cleared;
 *  - containers with no keys stay: CRYPT_NEWKEYSET makes exactly those;
 *  - when no container is marked default, the first valid one becomes the default.
 * Record positions never move: the index is the container's identity (and its certificate file number).
 */
export function reconcileContainerMap(
  current: readonly (ContainerMapRecord | null)[],
  pairs: readonly KeyPair[],
  serial: string,
  completeView: boolean,
  maxContainers: number,
): ReconciledMap {
  const records = current.map((r) => (r ? { ...r } : null));
  const keys = new Map<number, ContainerSlots>();
  const indexByName = new Map<string, number>();
  records.forEach((r, i) => { if (isValid(r)) indexByName.set(r.wszGuid, i); });

  const unassigned: KeyPair[] = [];
  for (const pair of pairs) {
    const index = indexByName.get(pair.label);
    const slotTaken = index !== undefined && keys.get(index)?.[pair.role] !== undefined;
    if (index === undefined || slotTaken) {
      unassigned.push(pair);
      continue;
    }
    keys.set(index, { ...keys.get(index), [pair.role]: pair });
  }
  for (const pair of unassigned) {
    let name = usableLabel(pair.label) && !indexByName.has(pair.label) ? pair.label : derivedContainerName(pair.id, serial);
    if (indexByName.has(name)) {
      const existing = indexByName.get(name)!;
      if (keys.get(existing)?.[pair.role] === undefined) {
        keys.set(existing, { ...keys.get(existing), [pair.role]: pair });
        continue;
      }
      name = derivedContainerName(Buffer.concat([pair.id, Buffer.from(pair.role)]), serial);
    }
    let index = records.findIndex((r) => !isValid(r));
    if (index < 0) index = records.length;
    if (index >= maxContainers) continue; // no room in the map: the key stays unseen as a container
    records[index] = { wszGuid: name, bFlags: CONTAINER_MAP_VALID_CONTAINER, wSigKeySizeBits: 0, wKeyExchangeKeySizeBits: 0 };
    indexByName.set(name, index);
    keys.set(index, { [pair.role]: pair });
  }

  records.forEach((r, i) => {
    if (!isValid(r)) return;
    const k = keys.get(i);
    const sig = k?.sig?.bits ?? 0;
    const keyx = k?.keyx?.bits ?? 0;
    if (completeView || sig > 0) r.wSigKeySizeBits = sig;
    if (completeView || keyx > 0) r.wKeyExchangeKeySizeBits = keyx;
  });

  if (!records.some((r) => isValid(r) && (r.bFlags & CONTAINER_MAP_DEFAULT_CONTAINER))) {
    const first = records.find(isValid);
    if (first) first.bFlags |= CONTAINER_MAP_DEFAULT_CONTAINER;
  }

  const changed = records.length !== current.length || records.some((r, i) => !sameRecord(r, current[i] ?? null));
  return { records, keys, changed };
}

function sameRecord(a: ContainerMapRecord | null, b: ContainerMapRecord | null): boolean {
  if (a === null || b === null) return a === b;
  return a.wszGuid === b.wszGuid && a.bFlags === b.bFlags && a.wSigKeySizeBits === b.wSigKeySizeBits && a.wKeyExchangeKeySizeBits === b.wKeyExchangeKeySizeBits;
}
