import { mkdirSync, chmodSync } from 'node:fs';
import { open, type RootDatabase } from 'lmdb';
import type { CacheBackend, CacheItem } from './data-cache.js';

/**
 * The global data cache: one LMDB environment per user, shared by every process of that user (the
 * Smart Card service's global cache in Windows). LMDB is built for many concurrent readers and
 * writers across processes with transactional writes and no server to run, which is exactly this job;
 * the `lmdb` package ships prebuilt binaries. The folder is 0700 and holds public card data only.
 *
 * Value layout: 4-byte little-endian freshness counter, then the item's bytes.
 */
export class LmdbCacheBackend implements CacheBackend {
  private readonly db: RootDatabase<Buffer, string>;

  constructor(folder: string) {
    mkdirSync(folder, { recursive: true, mode: 0o700 });
    chmodSync(folder, 0o700);
    this.db = open<Buffer, string>({ path: folder, encoding: 'binary', compression: false });
  }

  get(key: string): CacheItem | undefined {
    // lmdb-js reuses one read snapshot until the event loop turns; a cache must see what another
    // process committed a moment ago, so start from a fresh snapshot.
    this.db.resetReadTxn();
    const value = this.db.get(key);
    if (!value || value.length < 4) return undefined;
    return { freshness: value.readUInt32LE(0), data: Buffer.from(value.subarray(4)) };
  }

  put(key: string, item: CacheItem): void {
    const value = Buffer.allocUnsafe(4 + item.data.length);
    value.writeUInt32LE(item.freshness >>> 0, 0);
    item.data.copy(value, 4);
    this.db.putSync(key, value);
  }

  deletePrefix(prefix: string): void {
    this.db.transactionSync(() => {
      for (const { key } of this.db.getRange({ start: prefix })) {
        if (!String(key).startsWith(prefix)) break;
        this.db.removeSync(key);
      }
    });
  }

  close(): Promise<void> {
    return this.db.close();
  }
}
