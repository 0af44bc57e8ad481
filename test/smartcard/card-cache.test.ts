/**
 * The data cache in front of a real SoftHSM2 card, in one process: what is read from the card and
 * what from the cache, cardcf bumped before each write of its class, contexts that want no cached
 * data, and the card's cache mode (global, session only, none).
 *
 * Card reads are counted by a wrapper around the real card context (every call is the card's own).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CardModule } from '../../minidriver/card-module.js';
import {
  AT_KEYEXCHANGE, CARD_CREATE_CONTAINER_KEY_GEN, CP_CACHE_MODE_NO_CACHE, CP_CACHE_MODE_SESSION_ONLY, CP_CARD_CACHE_MODE, ROLE_USER,
} from '../../minidriver/constants.js';
import { decodeCardCf } from '../../minidriver/codecs/index.js';
import { x509 } from '../../minidriver/x509.js';
import { presentPin } from '../../smartcard/authentication.js';
import { SmartCard } from '../../smartcard/card.js';
import { DataCache, MemoryCacheBackend } from '../../smartcard/data-cache.js';
import { LmdbCacheBackend } from '../../smartcard/global-cache-store.js';
import type { SmartCardService } from '../../smartcard/service.js';
import { Interaction } from '../../smartcard/ui.js';
import { makeToken } from '../pkcs11-bridge/helpers.js';
import { newService } from './service-helpers.js';

const T = makeToken('cache-a');

interface Counted {
  card: SmartCard;
  /** Card reads per file path ("cardcf", "mscp/cmapfile"...). */
  reads: Map<string, number>;
  raw: CardModule;
}

async function selfSigned(): Promise<Buffer> {
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await crypto.subtle.generateKey(alg, false, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({ serialNumber: '02', name: 'CN=cache', notBefore: new Date('2024-01-01'), notAfter: new Date('2034-01-01'), keys, signingAlgorithm: alg });
  return Buffer.from(cert.rawData);
}

describe('smartcard: data cache in front of the card', function () {
  this.timeout(120_000);
  let service: SmartCardService;
  let dir: string;
  let global: LmdbCacheBackend;

  before(async () => {
    service = newService('cache-', { hidden: new Set() });
    dir = mkdtempSync(join(tmpdir(), 'p11ksp-cache-'));
    global = new LmdbCacheBackend(dir);
  });
  after(async () => {
    await service.close();
    await global.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The real card context, reads counted, cache mode optionally overridden. */
  async function counted(mode?: number, globalBackend: LmdbCacheBackend | MemoryCacheBackend = global): Promise<Counted> {
    const entry = (await service.snapshot()).find((e) => e.card?.label === T.label)!;
    const raw = await entry.driver.CardAcquireContext({ dwVersion: 7, hScard: entry.state.hScard });
    const reads = new Map<string, number>();
    const wrapped = new Proxy(raw, {
      get(target, prop, receiver) {
        if (prop === 'CardReadFile') {
          return (d: string | null, f: string, flags?: number) => {
            const path = d ? `${d}/${f}` : f;
            reads.set(path, (reads.get(path) ?? 0) + 1);
            return target.CardReadFile(d, f, flags);
          };
        }
        if (prop === 'CardGetProperty' && mode !== undefined) {
          return (name: string, flags?: number) => (name === CP_CARD_CACHE_MODE ? Promise.resolve(mode) : target.CardGetProperty(name as never, flags));
        }
        return Reflect.get(target, prop, receiver);
      },
    }) as CardModule;
    const card = await SmartCard.open(entry.szReader, entry.card!, wrapped, { global: new DataCache(globalBackend), session: new DataCache(new MemoryCacheBackend()) });
    return { card, reads, raw };
  }

  const reset = (c: Counted) => c.reads.clear();

  it('one cardcf read per transaction; a current item is not read from the card again', async () => {
    const c = await counted();
    await c.card.transaction(async () => {
      await c.card.containers();
      await c.card.containers();
      await c.card.defaultContainer();
    });
    assert.equal(c.reads.get('cardcf'), 1, 'cardcf once per transaction');
    assert.equal(c.reads.get('mscp/cmapfile'), 1, 'the map once');
    reset(c);
    await c.card.transaction(() => c.card.containers());
    assert.equal(c.reads.get('cardcf'), 1);
    assert.equal(c.reads.get('mscp/cmapfile'), undefined, 'served from the cache');
    await c.card.close();
  });

  it('a context that wants no cached data reads the card every time', async () => {
    const c = await counted();
    await c.card.containers(true);
    await c.card.containers(true);
    assert.equal(c.reads.get('mscp/cmapfile'), 2);
    assert.equal(c.reads.get('cardcf'), undefined, 'no freshness check either');
    await c.card.close();
  });

  it('writes bump the counter of their class before writing, and the cache follows', async () => {
    const c = await counted();
    await presentPin({ card: c.card, pins: service.pins, interaction: new Interaction(true), pinId: ROLE_USER, operation: 't' }, Buffer.from(T.pin));
    const cf = async () => decodeCardCf(await c.raw.CardReadFile(null, 'cardcf'));
    const before = await cf();
    const container = await c.card.addContainer('cached-one');
    const afterAdd = await cf();
    assert.equal(afterAdd.wContainersFreshness, (before.wContainersFreshness + 1) & 0xffff, 'containers counter +1');
    assert.equal(afterAdd.wFilesFreshness, before.wFilesFreshness);
    await c.card.createKey(container.index, CARD_CREATE_CONTAINER_KEY_GEN, AT_KEYEXCHANGE, 1024, null);
    // At least one more: ours before the key is made (the driver may bump again when the map's key sizes follow).
    assert.ok(((await cf()).wContainersFreshness - afterAdd.wContainersFreshness + 0x10000) % 0x10000 >= 1, 'key generation bumps containers');
    const der = await selfSigned();
    await c.card.writeCertificate(container.index, AT_KEYEXCHANGE, der);
    const afterCert = await cf();
    assert.ok(afterCert.wFilesFreshness > before.wFilesFreshness || afterCert.wFilesFreshness < before.wFilesFreshness, 'files counter moved');
    reset(c);
    const got = await c.card.transaction(() => c.card.readCertificate(container.index, AT_KEYEXCHANGE));
    assert.ok(got?.equals(der));
    assert.equal(c.reads.get(`mscp/kxc${container.index.toString(16).padStart(2, '0')}`), undefined, 'the written certificate was cached as written');
    await c.card.close();
  });

  it('an item cached under an older counter is stale: the card is read again', async () => {
    const c = await counted();
    await c.card.transaction(() => c.card.containers());
    // The other writer does not share this cache (as a process with another cache would not).
    const other = await counted(undefined, new MemoryCacheBackend());
    await presentPin({ card: other.card, pins: service.pins, interaction: new Interaction(true), pinId: ROLE_USER, operation: 't' }, Buffer.from(T.pin));
    await other.card.addContainer('from-other-context');
    reset(c);
    const names = await c.card.transaction(async () => (await c.card.containers()).map((x) => x.name));
    assert.ok(names.includes('from-other-context'));
    assert.equal(c.reads.get('mscp/cmapfile'), 1, 'stale → read from the card');
    await c.card.close();
    await other.card.close();
  });

  it('cache modes: NO_CACHE reads the card every time; SESSION_ONLY keeps items out of the global cache', async () => {
    const none = await counted(CP_CACHE_MODE_NO_CACHE);
    await none.card.transaction(async () => {
      await none.card.containers();
      await none.card.containers();
    });
    assert.equal(none.reads.get('mscp/cmapfile'), 2);
    await none.card.close();

    const probe = mkdtempSync(join(tmpdir(), 'p11ksp-cache-session-'));
    const sessionGlobal = new LmdbCacheBackend(probe);
    try {
      const entry = (await service.snapshot()).find((e) => e.card?.label === T.label)!;
      const raw = await entry.driver.CardAcquireContext({ dwVersion: 7, hScard: entry.state.hScard });
      const wrapped = new Proxy(raw, {
        get: (target, prop, receiver) => (prop === 'CardGetProperty'
          ? (name: string, flags?: number) => (name === CP_CARD_CACHE_MODE ? Promise.resolve(CP_CACHE_MODE_SESSION_ONLY) : target.CardGetProperty(name as never, flags))
          : Reflect.get(target, prop, receiver)),
      }) as CardModule;
      const card = await SmartCard.open(entry.szReader, entry.card!, wrapped, { global: new DataCache(sessionGlobal), session: new DataCache(new MemoryCacheBackend()) });
      await card.transaction(() => card.containers());
      assert.equal(sessionGlobal.get(`${card.guid.toString('hex')}/Cached_GeneralFile/mscp/cmapfile`), undefined, 'nothing in the global cache');
      await card.close();
    } finally {
      await sessionGlobal.close();
      rmSync(probe, { recursive: true, force: true });
    }
  });
});
