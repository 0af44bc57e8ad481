/**
 * `p11-ksp cache show [--json]` and `p11-ksp cache clear [--card GUID]`: the global data cache in
 * P11KSP_HOME/cache — the public card data (container map, container information, certificates, card
 * properties) that every process of this user shares, keyed by card GUID and guarded by the card's
 * freshness counters (smartcard/data-cache.ts, smartcard/global-cache-store.ts).
 *
 * What is not shown, decided here: the per-process data cache and the PIN cache live in the memory of
 * each process (the PIN cache in locked, non-dumpable memory) and end with it. No other process can see
 * them — that is the point of keeping PINs there — so `cache show` cannot say "PIN cached for card X"
 * for anyone but itself, and a fresh `p11-ksp` process has none. It says so instead of guessing.
 *
 * No --module: the cache belongs to the home, whichever module the cards came from.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { open } from 'lmdb';
import { resolveHome } from '../../home.js';
import { cardIdToGuidString } from '../../minidriver/codecs/index.js';
import { LmdbCacheBackend } from '../../smartcard/global-cache-store.js';
import { UsageError } from '../exit-codes.js';
import type { CacheDocument, CachedCardJson } from '../json-schema.js';
import type { Output } from '../output.js';

export interface CacheShowOptions {
  json?: boolean;
}

export interface CacheClearOptions {
  card?: string;
}

const PER_PROCESS = {
  dataCache: 'each process also keeps a cache of its own in memory; it ends with the process and no other process can see it',
  pinCache: 'PINs are cached only inside the process that was given them (locked, non-dumpable memory); no other process can see or list them, so no PIN is cached for any card as far as this command can know',
} as const;

function cacheFolder(): string {
  return join(resolveHome(), 'cache');
}

/**
 * The card identifier bytes of a GUID as `cards` prints it (cardIdToGuidString's inverse): the first
 * three groups are little-endian in the GUID structure, the last two are stored as printed.
 */
export function cardIdFromGuidString(text: string): Buffer {
  const m = /^\{?([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})\}?$/i.exec(text.trim());
  if (!m) throw new UsageError('--card takes a card GUID as `p11-ksp cards` shows it: xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx');
  const le = (hex: string): Buffer => Buffer.from(hex, 'hex').reverse();
  return Buffer.concat([le(m[1]!), le(m[2]!), le(m[3]!), Buffer.from(m[4]!, 'hex'), Buffer.from(m[5]!, 'hex')]);
}

/**
 * Reads every item of the global cache. The item layout (key "<card id hex>/<lookup name>", value a
 * 4-byte little-endian freshness counter then the data) is global-cache-store.ts's; it offers no
 * listing, so the store is read here, read-only, with the same library.
 */
function readGlobalCache(folder: string): CachedCardJson[] {
  if (!existsSync(join(folder, 'data.mdb'))) return [];
  const db = open<Buffer, string>({ path: folder, encoding: 'binary', compression: false, readOnly: true });
  const cards = new Map<string, CachedCardJson>();
  try {
    for (const { key, value } of db.getRange()) {
      const slash = String(key).indexOf('/');
      if (slash !== 32 || !value || value.length < 4) continue; // not an item of ours
      const id = Buffer.from(String(key).slice(0, slash), 'hex');
      const cardGuid = cardIdToGuidString(id);
      let card = cards.get(cardGuid);
      if (!card) {
        card = { cardGuid, items: [], bytes: 0 };
        cards.set(cardGuid, card);
      }
      const bytes = value.length - 4;
      card.items.push({ name: String(key).slice(slash + 1), bytes, freshness: value.readUInt32LE(0) });
      card.bytes += bytes;
    }
  } finally {
    void db.close();
  }
  return [...cards.values()];
}

export async function cacheShowCommand(options: CacheShowOptions, out: Output): Promise<void> {
  const folder = cacheFolder();
  const doc: CacheDocument = { schema: 'p11-ksp/cache/v1', global: { path: folder, cards: readGlobalCache(folder) }, perProcess: { ...PER_PROCESS } };
  if (options.json) {
    out.document(doc);
    return;
  }
  out.line(`Global data cache ${folder}: ${doc.global.cards.length} card(s)`);
  for (const card of doc.global.cards) {
    out.line(`  Card {${card.cardGuid}}: ${card.items.length} item(s), ${card.bytes} bytes`);
    const width = Math.max(...card.items.map((i) => i.name.length));
    for (const item of card.items) out.line(`    ${item.name.padEnd(width)}  ${String(item.bytes).padStart(6)} bytes  freshness ${item.freshness}`);
  }
  out.line(`Per-process data cache: ${PER_PROCESS.dataCache}.`);
  out.line(`PIN cache: ${PER_PROCESS.pinCache}.`);
}

export async function cacheClearCommand(options: CacheClearOptions, out: Output): Promise<void> {
  const id = options.card !== undefined ? cardIdFromGuidString(options.card) : undefined;
  const folder = cacheFolder();
  const before = readGlobalCache(folder);
  const gone = id ? before.filter((c) => c.cardGuid === cardIdToGuidString(id)) : before;
  if (before.length > 0) {
    const backend = new LmdbCacheBackend(folder);
    try {
      backend.deletePrefix(id ? `${id.toString('hex')}/` : '');
    } finally {
      await backend.close();
    }
  }
  const items = gone.reduce((n, c) => n + c.items.length, 0);
  out.line(`Cleared ${items} item(s) of ${gone.length} card(s) from ${folder}${id ? ` (card {${cardIdToGuidString(id)}})` : ''}`);
}
