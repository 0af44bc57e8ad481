import assert from 'node:assert/strict';
import { PinCacheAlwaysPrompt, PinCacheNone, PinCacheNormal, PinCacheTimed } from '../../minidriver/constants.js';
import { CryptError } from '../../minidriver/errors.js';
import type { PinCachePolicy } from '../../minidriver/structures.js';
import type { SecureBuffer } from '../../native/index.js';
import { PinCache } from '../../smartcard/pin-cache.js';

const policy = (type: number, seconds = 0): PinCachePolicy => ({ dwVersion: 6, PinCachePolicyType: type, dwPinCachePolicyInfo: seconds });
const PIN = Buffer.from('271828-secret');

/** The sealed buffers of a cache (white-box: to look at what sits in secure memory). */
function sealedBuffers(cache: PinCache): { sealed: SecureBuffer; length: number }[] {
  return [...(cache as unknown as { entries: Map<string, { sealed: SecureBuffer; length: number }> }).entries.values()];
}

describe('smartcard: PIN cache in secure memory', () => {
  it('returns a cached PIN for its card and PIN id only', () => {
    const cache = new PinCache();
    cache.putVerified('card-a', 1, PIN, policy(PinCacheNormal));
    assert.deepEqual(cache.get('card-a', 1), PIN);
    assert.equal(cache.get('card-a', 2), undefined);
    assert.equal(cache.get('card-b', 1), undefined);
    cache.clear();
  });

  it('holds the PIN encrypted: the secure memory never contains the PIN bytes, and each store uses a fresh IV', () => {
    const cache = new PinCache();
    cache.putVerified('card-a', 1, PIN, policy(PinCacheNormal));
    const [first] = sealedBuffers(cache);
    const bytes1 = first.sealed.read(0, 28 + first.length);
    assert.equal(bytes1.indexOf(PIN), -1);
    assert.ok(first.sealed.locked || first.sealed.dumpExcluded, 'secure memory is locked or at least excluded from dumps');
    cache.putVerified('card-a', 1, PIN, policy(PinCacheNormal));
    const [second] = sealedBuffers(cache);
    assert.notDeepEqual(second.sealed.read(0, 28 + second.length), bytes1);
    assert.ok(first.sealed.freed, 'replacing a PIN frees the old entry');
    cache.clear();
  });

  it('PinCacheNone and PinCacheAlwaysPrompt cache nothing', () => {
    const cache = new PinCache();
    cache.putVerified('card-a', 1, PIN, policy(PinCacheNone));
    cache.putVerified('card-a', 2, PIN, policy(PinCacheAlwaysPrompt));
    assert.equal(cache.size, 0);
    assert.equal(cache.get('card-a', 1), undefined);
    assert.equal(cache.get('card-a', 2), undefined);
  });

  it('PinCacheTimed expires after dwPinCachePolicyInfo seconds, and the expired entry is freed', () => {
    let now = 1_000_000;
    const cache = new PinCache(() => now);
    cache.putVerified('card-a', 1, PIN, policy(PinCacheTimed, 30));
    const [entry] = sealedBuffers(cache);
    now += 29_999;
    assert.deepEqual(cache.get('card-a', 1), PIN);
    now += 1;
    assert.equal(cache.has('card-a', 1), false);
    assert.equal(cache.get('card-a', 1), undefined);
    assert.ok(entry.sealed.freed);
    assert.equal(cache.size, 0);
  });

  it('drop(card) forgets every PIN of that card (removal, deauthentication) and wipes their memory', () => {
    const cache = new PinCache();
    cache.putVerified('card-a', 1, PIN, policy(PinCacheNormal));
    cache.putVerified('card-a', 2, Buffer.from('so-pin-9'), policy(PinCacheNormal));
    cache.putVerified('card-b', 1, PIN, policy(PinCacheNormal));
    const before = sealedBuffers(cache);
    cache.drop('card-a');
    assert.equal(cache.size, 1);
    assert.deepEqual(cache.get('card-b', 1), PIN);
    assert.equal(before.filter((e) => e.sealed.freed).length, 2);
    cache.drop('card-b', 1);
    assert.equal(cache.size, 0);
  });

  it('refuses an empty or oversized PIN and an unknown policy with typed errors that never carry the PIN', () => {
    const cache = new PinCache();
    for (const [pin, pol, code] of [
      [Buffer.alloc(0), policy(PinCacheNormal), 'SCARD_E_INVALID_CHV'],
      [Buffer.alloc(300, 0x41), policy(PinCacheNormal), 'SCARD_E_INVALID_CHV'],
      [PIN, policy(9), 'SCARD_E_INVALID_PARAMETER'],
    ] as const) {
      assert.throws(() => cache.putVerified('card-a', 1, pin, pol), (err: unknown) => {
        assert.ok(err instanceof CryptError);
        assert.equal(err.codeName, code);
        assert.ok(!String(err.message).includes(PIN.toString()));
        return true;
      });
    }
    assert.equal(cache.size, 0);
  });
});
