/**
 * Creating and deleting a container the way Windows' Base CSP/KSP does it over a minidriver: the CSP,
 * not the card, owns mscp/cmapfile. It reads the map, puts a record with a fresh GUID name at the first
 * free index, bumps the containers counter in cardcf (so every other process's cache of the map goes
 * stale), writes the map back, and only then asks the card for a key (CardCreateContainer). Deleting
 * bumps the counter the same way before CardDeleteContainer zeroes the record.
 *
 * Why the demo goes through this instead of letting the bridge invent a record: it is the flow every
 * real front end will use, so the demo exercises the card file system codecs and the freshness rule
 * as well as the key operations.
 */
import { randomUUID } from 'node:crypto';
import type { CardModule } from '../../minidriver/card-module.js';
import {
  CARD_CACHE_CONTAINERS, CONTAINER_MAP_DEFAULT_CONTAINER, CONTAINER_MAP_VALID_CONTAINER, szBASE_CSP_DIR, szCACHE_FILE,
  szCONTAINER_MAP_FILE,
} from '../../minidriver/constants.js';
import {
  bumpCardCf, decodeCardCf, decodeCmapFile, defaultContainerIndex, encodeCardCf, encodeCmapFile, firstFreeIndex,
} from '../../minidriver/codecs/index.js';

export interface NewContainer {
  index: number;
  /** The container's name (wszGuid): a GUID, as Base CSP names the containers it creates. */
  name: string;
  /** Whether it became the card's default container (it does when the card has none). */
  isDefault: boolean;
  /** cardcf's containers counter after the bump. */
  containersFreshness: number;
}

/** Bumps cardcf's containers counter: what a CSP does before it changes the container map. */
export async function bumpContainersFreshness(card: CardModule): Promise<number> {
  const cf = bumpCardCf(decodeCardCf(await card.CardReadFile(null, szCACHE_FILE)), CARD_CACHE_CONTAINERS);
  await card.CardWriteFile(null, szCACHE_FILE, 0, encodeCardCf(cf));
  return cf.wContainersFreshness;
}

/** Writes a new, empty container record (key sizes 0; the card fills them when it makes the key). */
export async function createContainerRecord(card: CardModule): Promise<NewContainer> {
  const records = decodeCmapFile(await card.CardReadFile(szBASE_CSP_DIR, szCONTAINER_MAP_FILE));
  const index = firstFreeIndex(records);
  const isDefault = defaultContainerIndex(records) < 0;
  const name = randomUUID();
  const bFlags = CONTAINER_MAP_VALID_CONTAINER | (isDefault ? CONTAINER_MAP_DEFAULT_CONTAINER : 0);
  records[index] = { wszGuid: name, bFlags, wSigKeySizeBits: 0, wKeyExchangeKeySizeBits: 0 };
  const containersFreshness = await bumpContainersFreshness(card);
  await card.CardWriteFile(szBASE_CSP_DIR, szCONTAINER_MAP_FILE, 0, encodeCmapFile(records));
  return { index, name, isDefault, containersFreshness };
}

/** Deletes a container: freshness bump, then CardDeleteContainer (keys destroyed, record zeroed). */
export async function deleteContainer(card: CardModule, index: number): Promise<void> {
  await bumpContainersFreshness(card);
  await card.CardDeleteContainer(index);
}
