import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CryptError } from '../../minidriver/errors.js';
import { DataCache } from '../../smartcard/data-cache.js';
import { LmdbCacheBackend } from '../../smartcard/global-cache-store.js';

const distRoot = fileURLToPath(new URL('../../', import.meta.url));

/** Runs one cache call in a separate Node process, as another application of the same user would. */
function inOtherProcess(folder: string, script: string): string {
  const program = `
    const { DataCache } = await import(${JSON.stringify(join(distRoot, 'smartcard/data-cache.js'))});
    const { LmdbCacheBackend } = await import(${JSON.stringify(join(distRoot, 'smartcard/global-cache-store.js'))});
    const backend = new LmdbCacheBackend(${JSON.stringify(folder)});
    const cache = new DataCache(backend);
    try { ${script} } catch (err) { process.stdout.write('ERR ' + err.codeName); }
    await backend.close();`;
  return execFileSync(process.execPath, ['--input-type=module', '-e', program], { encoding: 'utf8' });
}

function programFor(folder: string, script: string): string {
  return `
    const { DataCache } = await import(${JSON.stringify(join(distRoot, 'smartcard/data-cache.js'))});
    const { LmdbCacheBackend } = await import(${JSON.stringify(join(distRoot, 'smartcard/global-cache-store.js'))});
    const backend = new LmdbCacheBackend(${JSON.stringify(folder)});
    const cache = new DataCache(backend);
    ${script}
    await backend.close();`;
}

describe('smartcard: global data cache shared by processes (LMDB)', () => {
  let folder: string;
  const card = randomBytes(16);
  const cardHex = card.toString('hex');

  before(() => {
    folder = join(mkdtempSync(join(tmpdir(), 'p11ksp-cache-')), 'cache');
  });
  after(() => rmSync(join(folder, '..'), { recursive: true, force: true }));

  it('an item written by one process is read by another under the same freshness, stale under a newer one', () => {
    inOtherProcess(folder, `cache.SCardWriteCache(Buffer.from('${cardHex}', 'hex'), 3, 'Cached_GeneralFile/mscp/cmapfile', Buffer.from('from A'));`);
    const backend = new LmdbCacheBackend(folder);
    try {
      const cache = new DataCache(backend);
      assert.equal(cache.SCardReadCache(card, 3, 'Cached_GeneralFile/mscp/cmapfile').toString(), 'from A');
      assert.throws(() => cache.SCardReadCache(card, 4, 'Cached_GeneralFile/mscp/cmapfile'), (e: unknown) => e instanceof CryptError && e.codeName === 'SCARD_W_CACHE_ITEM_STALE');
      // Process B bumps the counter and writes; this process sees the new item at once.
      inOtherProcess(folder, `cache.SCardWriteCache(Buffer.from('${cardHex}', 'hex'), 4, 'Cached_GeneralFile/mscp/cmapfile', Buffer.from('from B'));`);
      assert.equal(cache.SCardReadCache(card, 4, 'Cached_GeneralFile/mscp/cmapfile').toString(), 'from B');
      assert.throws(() => cache.SCardReadCache(card, 3, 'Cached_GeneralFile/mscp/cmapfile'), (e: unknown) => e instanceof CryptError && e.codeName === 'SCARD_W_CACHE_ITEM_STALE');
      assert.equal(inOtherProcess(folder, `process.stdout.write(cache.SCardReadCache(Buffer.from('${cardHex}', 'hex'), 4, 'Cached_GeneralFile/mscp/cmapfile').toString());`), 'from B');
    } finally {
      void backend.close();
    }
  });

  it('two processes writing at once under different freshness values never make a third read old data as current', async () => {
    const run = promisify(execFile);
    for (let round = 0; round < 5; round++) {
      const name = `race-${round}`;
      const write = (freshness: number, text: string) => run(process.execPath, ['--input-type=module', '-e',
        programFor(folder, `for (let i = 0; i < 50; i++) cache.SCardWriteCache(Buffer.from('${cardHex}', 'hex'), ${freshness}, '${name}', Buffer.from('${text}'));`)]);
      await Promise.all([write(5, 'older'), write(6, 'newer')]);
      // The card is at freshness 6: the third process gets the newer item or a stale miss, never 'older'.
      const seen = inOtherProcess(folder, `process.stdout.write(cache.SCardReadCache(Buffer.from('${cardHex}', 'hex'), 6, '${name}').toString());`);
      assert.ok(seen === 'newer' || seen === 'ERR SCARD_W_CACHE_ITEM_STALE', `round ${round}: third process saw ${seen}`);
    }
  });

  it('forgetCard in one process removes the card for every process; the folder is private (0700)', () => {
    inOtherProcess(folder, `cache.SCardWriteCache(Buffer.from('${cardHex}', 'hex'), 1, 'other', Buffer.from('z'));`);
    inOtherProcess(folder, `cache.forgetCard(Buffer.from('${cardHex}', 'hex'));`);
    assert.equal(inOtherProcess(folder, `cache.SCardReadCache(Buffer.from('${cardHex}', 'hex'), 1, 'other');`), 'ERR SCARD_W_CACHE_ITEM_NOT_FOUND');
    assert.equal(statSync(folder).mode & 0o777, 0o700);
  });
});
