/**
 * The key lifecycle of the smart card KSP: open by name, create (pending until finalized), finalize
 * (the key is generated or imported on the card), delete, enumerate. Every card is reached through
 * the smart card service: selection (levels I–IV, silent or with the UI), its caches and its PINs.
 */
import { CARD_CREATE_CONTAINER_KEY_GEN, CARD_CREATE_CONTAINER_KEY_IMPORT } from '../minidriver/constants.js';
import { CryptError } from '../minidriver/errors.js';
import { assertCreateAllowed, withAuthentication } from '../smartcard/authentication.js';
import type { SmartCard } from '../smartcard/card.js';
import type { ContainerSpec } from '../smartcard/container-spec.js';
import type { Selection } from '../smartcard/selection.js';
import { Interaction } from '../smartcard/ui.js';
import {
  NCRYPT_MACHINE_KEY_FLAG, NCRYPT_NO_KEY_VALIDATION, NCRYPT_OVERWRITE_KEY_FLAG, NCRYPT_SILENT_FLAG,
  NCRYPT_WRITE_KEY_TO_LEGACY_STORE_FLAG,
} from './constants.js';
import { checkFlags } from './flags.js';
import { type NCryptKeyHandle as KeyHandle, NCryptKeyHandle, type NCryptProvHandle, useHandle } from './handles.js';
import { authenticationContext, isSilent, presentProviderPin, withCard } from './key-access.js';
import { keySpecOf } from './key-names.js';
import {
  algorithmById, cardKeySpecFor, cardLegacyKeySpec, checkLegacyKeySpec, keyFromContainer, keysOfContainer, type PendingKey, pendingBits,
  type PersistedKey,
} from './key-model.js';
import { checkKeyLength } from './key-lengths.js';

export interface NCryptKeyName {
  pszName: string;
  pszAlgid: string;
  dwLegacyKeySpec: number;
  dwFlags: number;
}

/**
 * Opens the key of a container. legacyKeySpec 0 takes the container's key-exchange key, else its
 * signature key; AT_KEYEXCHANGE / AT_SIGNATURE name the slot. A missing container or an empty slot
 * is NTE_BAD_KEYSET (N9). On a warm cache this costs one card read (the handle check).
 */
export async function NCryptOpenKey(hProv: NCryptProvHandle, keyName: string | null, legacyKeySpec: number, flags = 0): Promise<NCryptKeyHandle> {
  const operation = 'NCryptOpenKey';
  const provider = useHandle(hProv, 'provider', operation);
  checkFlags(flags, NCRYPT_MACHINE_KEY_FLAG | NCRYPT_SILENT_FLAG, operation);
  checkLegacyKeySpec(legacyKeySpec, operation);
  const spec = keySpecOf(keyName, operation);
  const silent = isSilent(flags);
  const key = await provider.service.select({ spec, operation: 'open', interaction: new Interaction(silent) }, operation,
    async ({ card, container }) => keyFromContainer(card, container!, await card.containerInfo(container!.index), legacyKeySpec, silent, operation));
  return new NCryptKeyHandle(provider, key);
}

/**
 * Starts a key: nothing reaches the card until NCryptFinalizeKey. A name already in use is NTE_EXISTS
 * here, as Windows documents it on this call (N10), unless NCRYPT_OVERWRITE_KEY_FLAG asks to replace
 * it. A null name makes a new GUID-named container on the card chosen at finalize.
 */
export async function NCryptCreatePersistedKey(hProv: NCryptProvHandle, algId: string, keyName: string | null, legacyKeySpec: number, flags = 0): Promise<NCryptKeyHandle> {
  const operation = 'NCryptCreatePersistedKey';
  const provider = useHandle(hProv, 'provider', operation);
  checkFlags(flags, NCRYPT_MACHINE_KEY_FLAG | NCRYPT_OVERWRITE_KEY_FLAG | NCRYPT_SILENT_FLAG, operation);
  if (typeof algId !== 'string' || algId.length === 0) throw new CryptError('NTE_INVALID_PARAMETER', 'pszAlgId is required (BCRYPT_RSA_ALGORITHM, BCRYPT_ECDSA_P256_ALGORITHM...)', { operation });
  const algorithm = algorithmById(algId);
  if (!algorithm) throw new CryptError('NTE_NOT_SUPPORTED', `"${algId}" is not an algorithm of smart card keys here (RSA, ECDSA_P256/384/521, ECDH_P256/384/521)`, { operation });
  checkLegacyKeySpec(legacyKeySpec, operation);
  const spec = keySpecOf(keyName, operation);
  const overwrite = (flags & NCRYPT_OVERWRITE_KEY_FLAG) !== 0;
  if (spec.container !== undefined && !overwrite) await assertNameFree(provider, spec, operation);
  const pending: PendingKey = {
    kind: 'pending', algorithm, name: keyName, legacyKeySpec: algorithm.curve ? 0 : legacyKeySpec, exportPolicy: 0, overwrite, silent: isSilent(flags),
  };
  return new NCryptKeyHandle(provider, pending);
}

/** NTE_EXISTS when a card present holds the name (searched silently: no card prompt for a check). */
async function assertNameFree(provider: NCryptProvHandle, spec: ContainerSpec, operation: string): Promise<void> {
  const holder = await findContainer(provider, spec, operation);
  if (holder) {
    throw new CryptError('NTE_EXISTS', `the card in "${holder.card.szReader}" already holds a key named "${spec.container}"; open it, pass NCRYPT_OVERWRITE_KEY_FLAG to replace it, or choose another name`, { operation, container: spec.container! });
  }
}

/** The container a name means, if a card present holds it; never prompts. */
async function findContainer(provider: NCryptProvHandle, spec: ContainerSpec, operation: string): Promise<Selection | undefined> {
  try {
    return await provider.service.select({ spec, operation: 'open', interaction: new Interaction(true) }, operation);
  } catch (err) {
    if (err instanceof CryptError && (err.codeName === 'NTE_BAD_KEYSET' || err.codeName === 'NTE_SILENT_CONTEXT')) return undefined;
    throw err;
  }
}

/**
 * Makes the key on the card: the container is added and the key generated (or, for NCryptImportKey
 * with a name, imported) in one card transaction, authenticated; a failed key write removes the
 * container again. Finalizing a finalized key is NTE_INVALID_HANDLE (N11, WNT test_finalize_key).
 */
export async function NCryptFinalizeKey(hKey: NCryptKeyHandle, flags = 0): Promise<void> {
  const operation = 'NCryptFinalizeKey';
  const handle = useHandle(hKey, 'key', operation);
  checkFlags(flags, NCRYPT_SILENT_FLAG | NCRYPT_NO_KEY_VALIDATION | NCRYPT_WRITE_KEY_TO_LEGACY_STORE_FLAG, operation);
  const pending = handle.state;
  if (pending.kind !== 'pending') throw new CryptError('NTE_INVALID_HANDLE', 'this key is already finalized; it can be used as it is', { operation });
  const provider = handle.provider;
  const silent = isSilent(flags, pending.silent);
  const spec = keySpecOf(pending.name, operation);
  const replaced = pending.overwrite && spec.container !== undefined ? await findContainer(provider, spec, operation) : undefined;
  const make = ({ card, createName }: { card: SmartCard; createName: string }): Promise<PersistedKey> => reportingRemoval(provider, card, async () => {
    const keySpec = cardKeySpecFor(pending);
    const bits = pendingBits(pending);
    checkKeyLength(pending, await card.keySizes(keySpec), operation);
    const ctx = authenticationContext(provider, card, createName, silent, operation);
    await presentProviderPin(provider, ctx);
    assertCreateAllowed(ctx);
    return withAuthentication(ctx, async () => {
      const existing = await card.findContainer(createName, true);
      if (existing) await card.deleteContainer(existing.index);
      const container = await card.addContainer(createName);
      try {
        if (pending.importKeyData) await card.createKey(container.index, CARD_CREATE_CONTAINER_KEY_IMPORT, keySpec, bits, pending.importKeyData);
        else await card.createKey(container.index, CARD_CREATE_CONTAINER_KEY_GEN, keySpec, bits, null);
      } catch (err) {
        await card.deleteContainer(container.index).catch(() => undefined);
        throw err;
      }
      return keyFromContainer(card, container, await card.containerInfo(container.index, true), cardLegacyKeySpec(pending), pending.silent, operation);
    });
  });
  const key = replaced
    ? await replaced.card.transaction(() => make({ card: replaced.card, createName: replaced.container!.name }))
    : await provider.service.select({ spec, operation: 'create', interaction: new Interaction(silent) }, operation, (s) => make({ card: s.card, createName: s.createName! }));
  handle.state = key;
  pending.importKeyData?.fill(0); // on the card now; a failed finalize keeps it for another try
}

/** Card work outside a key's own access path: a removed card is reported so its state and PINs go. */
async function reportingRemoval<T>(provider: NCryptProvHandle, card: SmartCard, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    await provider.service.cardFailed(card, err);
    throw err;
  }
}

/**
 * Deletes the key's container from its card and frees the handle (N12: the handle goes to this call
 * or to NCryptFreeObject, never both). A key not yet finalized, or imported public key, has nothing
 * stored: NTE_BAD_KEY_STATE, and the handle stays valid.
 */
export async function NCryptDeleteKey(hKey: KeyHandle, flags = 0): Promise<void> {
  const operation = 'NCryptDeleteKey';
  const handle = useHandle(hKey, 'key', operation);
  checkFlags(flags, NCRYPT_MACHINE_KEY_FLAG | NCRYPT_SILENT_FLAG, operation);
  const key = handle.state;
  if (key.kind !== 'persisted') {
    throw new CryptError('NTE_BAD_KEY_STATE', key.kind === 'pending' ? 'this key was never finalized, so nothing is stored; free the handle with NCryptFreeObject' : 'an imported public key is not stored; free the handle with NCryptFreeObject', { operation });
  }
  key.card.assertWritable(operation, 'its keys cannot be deleted', key.container.name);
  await withCard(handle.provider, key.card, key.container.name, isSilent(flags, key.silent), operation, true, () => key.card.transaction(async () => {
    // The container is found again by name: another process may have moved it since the key opened.
    const current = await key.card.findContainer(key.container.name, true);
    if (!current) throw new CryptError('NTE_BAD_KEYSET', `the container "${key.container.name}" is no longer on the card; nothing to delete`, { operation, container: key.container.name });
    await key.card.deleteContainer(current.index);
  }));
  handle.freed = true;
}

/**
 * Every key on every card present (or, with a reader-qualified scope `\\.\<reader>\`, on that
 * reader's card): one entry per key, so a container holding a key-exchange and a signature key is
 * listed twice. Names are plain container names; open them with NCryptOpenKey. Reading public key
 * information needs no PIN, so enumeration never prompts. The container map is read from the card
 * (one read per card), the key information through the cache.
 */
export async function NCryptEnumKeys(hProv: NCryptProvHandle, scope: string | null, flags = 0): Promise<NCryptKeyName[]> {
  const operation = 'NCryptEnumKeys';
  const provider = useHandle(hProv, 'provider', operation);
  checkFlags(flags, NCRYPT_MACHINE_KEY_FLAG | NCRYPT_SILENT_FLAG, operation);
  const reader = scopeReader(scope, operation);
  const entries = (await provider.service.snapshot()).filter((e) => e.state.cardPresent && (reader === undefined || e.szReader === reader));
  if (reader !== undefined && entries.length === 0) {
    const known = (await provider.service.snapshot()).some((e) => e.szReader === reader);
    throw new CryptError(known ? 'SCARD_E_NO_SMARTCARD' : 'SCARD_E_UNKNOWN_READER', known ? `no card in "${reader}"; insert one` : `no reader "${reader}"; list them with SCardListReaders`, { operation });
  }
  const names: NCryptKeyName[] = [];
  for (const entry of entries) {
    let card: SmartCard;
    try {
      card = await provider.service.cardIn(entry);
    } catch (err) {
      if (err instanceof CryptError && (err.codeName === 'SCARD_W_REMOVED_CARD' || err.codeName === 'SCARD_E_NO_SMARTCARD')) continue; // left while listing
      throw err;
    }
    const keys = await reportingRemoval(provider, card, () => card.transaction(async () => {
      const out: NCryptKeyName[] = [];
      // The map is read from the card: keys other PKCS#11 applications made appear only that way.
      for (const container of await card.containers(true)) {
        for (const k of keysOfContainer(await card.containerInfo(container.index))) {
          out.push({ pszName: container.name, pszAlgid: k.algorithm.algId, dwLegacyKeySpec: k.legacyKeySpec, dwFlags: flags & NCRYPT_MACHINE_KEY_FLAG });
        }
      }
      return out;
    })).catch((err: unknown) => {
      if (card.isRemoved) return []; // left while listing: the service already dropped it
      throw err;
    });
    names.push(...keys);
  }
  return names;
}

/** The reader a scope names; undefined for every reader. */
function scopeReader(scope: string | null | undefined, operation: string): string | undefined {
  if (scope === null || scope === undefined) return undefined;
  const spec = keySpecOf(scope, operation);
  if (spec.level !== 2) throw new CryptError('NTE_INVALID_PARAMETER', `the scope "${scope}" must be null or a reader, written \\\\.\\<reader>\\`, { operation });
  return spec.reader;
}
