import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { CryptError } from '../../minidriver/errors.js';
import { DataCache } from '../../smartcard/data-cache.js';

function code(work: () => unknown): string {
  try {
    work();
  } catch (err) {
    assert.ok(err instanceof CryptError, `not a CryptError: ${err}`);
    return err.codeName;
  }
  return 'no error';
}

describe('smartcard: data cache (SCardReadCache / SCardWriteCache)', () => {
  const cardA = randomBytes(16);
  const cardB = randomBytes(16);

  it('returns what was written under the same card, freshness and name, as a copy', () => {
    const cache = new DataCache();
    const data = Buffer.from('cmapfile bytes');
    cache.SCardWriteCache(cardA, 7, 'Cached_GeneralFile/mscp/cmapfile', data);
    data.fill(0);
    const read = cache.SCardReadCache(cardA, 7, 'Cached_GeneralFile/mscp/cmapfile');
    assert.equal(read.toString(), 'cmapfile bytes');
    read.fill(0);
    assert.equal(cache.SCardReadCache(cardA, 7, 'Cached_GeneralFile/mscp/cmapfile').toString(), 'cmapfile bytes');
  });

  it('another freshness value is SCARD_W_CACHE_ITEM_STALE; another card or name is SCARD_W_CACHE_ITEM_NOT_FOUND', () => {
    const cache = new DataCache();
    cache.SCardWriteCache(cardA, 7, 'n', Buffer.from('x'));
    assert.equal(code(() => cache.SCardReadCache(cardA, 8, 'n')), 'SCARD_W_CACHE_ITEM_STALE');
    assert.equal(code(() => cache.SCardReadCache(cardA, 6, 'n')), 'SCARD_W_CACHE_ITEM_STALE');
    assert.equal(code(() => cache.SCardReadCache(cardB, 7, 'n')), 'SCARD_W_CACHE_ITEM_NOT_FOUND');
    assert.equal(code(() => cache.SCardReadCache(cardA, 7, 'other')), 'SCARD_W_CACHE_ITEM_NOT_FOUND');
    cache.SCardWriteCache(cardA, 8, 'n', Buffer.from('y'));
    assert.equal(cache.SCardReadCache(cardA, 8, 'n').toString(), 'y');
    assert.equal(code(() => cache.SCardReadCache(cardA, 7, 'n')), 'SCARD_W_CACHE_ITEM_STALE');
  });

  it('forgetCard drops that card only', () => {
    const cache = new DataCache();
    cache.SCardWriteCache(cardA, 1, 'n', Buffer.from('a'));
    cache.SCardWriteCache(cardB, 1, 'n', Buffer.from('b'));
    cache.forgetCard(cardA);
    assert.equal(code(() => cache.SCardReadCache(cardA, 1, 'n')), 'SCARD_W_CACHE_ITEM_NOT_FOUND');
    assert.equal(cache.SCardReadCache(cardB, 1, 'n').toString(), 'b');
  });

  it('bad input gets typed errors: card id not 16 bytes, freshness not a DWORD, empty name, item too big', () => {
    const cache = new DataCache(undefined, 1024);
    assert.equal(code(() => cache.SCardWriteCache(randomBytes(15), 1, 'n', Buffer.alloc(1))), 'SCARD_E_INVALID_PARAMETER');
    assert.equal(code(() => cache.SCardWriteCache(cardA, -1, 'n', Buffer.alloc(1))), 'SCARD_E_INVALID_PARAMETER');
    assert.equal(code(() => cache.SCardWriteCache(cardA, 2 ** 32, 'n', Buffer.alloc(1))), 'SCARD_E_INVALID_PARAMETER');
    assert.equal(code(() => cache.SCardWriteCache(cardA, 1, '', Buffer.alloc(1))), 'SCARD_E_INVALID_PARAMETER');
    assert.equal(code(() => cache.SCardWriteCache(cardA, 1, 'n', Buffer.alloc(1025))), 'SCARD_W_CACHE_ITEM_TOO_BIG');
    assert.equal(code(() => cache.SCardReadCache(cardA, 1, 'n')), 'SCARD_W_CACHE_ITEM_NOT_FOUND', 'nothing was stored by the refused writes');
  });
});
