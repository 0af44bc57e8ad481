/**
 * smartcard/readers against real SoftHSM2 tokens: the reader list over registered drivers, SCardStatus
 * with provider resolution, and insertion/removal events.
 *
 * Events: SoftHSM2 builds its slot list at C_Initialize (test/rigs/softhsm.ts). Measured on 2.6.1: after
 * `softhsm2-util --delete-token` in a child process, the loaded module still lists the slot as holding
 * a token and C_GetTokenInfo on it fails with CKR_GENERAL_ERROR until C_Finalize + C_Initialize (and
 * re-initialising would pull the module from under the other suites sharing it). The
 * watcher is therefore driven through a fault-injecting wrapper around a real Pkcs11Minidriver that
 * reports one reader's card as absent while a flag is set; the slots, tokens and identities are the
 * real module's.
 */
import assert from 'node:assert/strict';
import type { CardMinidriver, CardReaderState } from '../../minidriver/card-module.js';
import { PinCacheNormal } from '../../minidriver/constants.js';
import type { Registration, RegistrationInput } from '../../smartcard/registry/index.js';
import { PinCache } from '../../smartcard/pin-cache.js';
import { diffReaders, type ReaderEvent, ReaderService } from '../../smartcard/readers/index.js';
import { expectCryptError, makeToken, newDriver, SOFTHSM2_MODULE } from '../pkcs11-bridge/helpers.js';

// Tokens at load time, before any module is initialised in this process (see helpers.ts).
const a = makeToken('rd-list-a');
const b = makeToken('rd-list-b');

type RegInput = Omit<RegistrationInput, 'kind' | 'match'> & Partial<Pick<RegistrationInput, 'kind' | 'match'>>;

/** A registration as the store would hold it, built in memory (no P11KSP_HOME involved). */
function reg(input: RegInput, installedAt: string, installSequence: number): Registration {
  const kind = input.kind ?? 'minidriver';
  const base: Registration = { ...input, kind, match: input.match ?? {}, installedAt, installSequence, priority: input.priority ?? 0 };
  if (kind === 'minidriver' && base.module === undefined && base.plugin === undefined) base.module = SOFTHSM2_MODULE;
  return base;
}

/** A real driver seen through a filter: the fault-injecting wrapper (nothing replaces the module). */
function wrap(driver: CardMinidriver & { close(): Promise<void> }, name: string, filter: (readers: CardReaderState[]) => CardReaderState[] = (r) => r) {
  const wrapper = {
    name,
    calls: 0,
    async listReaders() {
      const readers = filter(await driver.listReaders());
      wrapper.calls++;
      return readers;
    },
    CardAcquireContext: driver.CardAcquireContext.bind(driver),
    close: () => driver.close(),
  };
  return wrapper;
}

async function until(condition: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * Live timers, counted after a pause longer than the watch interval: a watcher still running would
 * have re-armed its interval timer by then, whereas one-shot timers of the test itself have fired.
 */
async function timersAfterPause(): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, 50));
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}

describe('smartcard: reader list and SCardStatus', () => {
  let service: ReaderService;

  before(() => {
    service = new ReaderService([reg({ name: 'softhsm' }, '2024-01-01T00:00:00.000Z', 1)], newDriver);
  });

  after(() => service.close());

  it('lists each token as a reader with its identity, and the free slot as a reader without a card', async () => {
    const names = await service.SCardListReaders();
    assert.equal(new Set(names).size, names.length, 'reader names are unique');
    for (const t of [a, b]) {
      const readers = (await service.snapshot()).filter((e) => e.card?.label === t.label);
      assert.equal(readers.length, 1, `one reader holds ${t.label}`);
      const status = await service.SCardStatus(readers[0]!.szReader);
      assert.ok(names.includes(status.szReader));
      assert.equal(status.present, true);
      assert.equal(status.card?.serial, t.serial);
      assert.equal(status.card?.manufacturer, 'SoftHSM project');
      assert.equal(status.atr, undefined, 'SoftHSM2 tokens have no ATR');
      assert.equal(status.provider, 'softhsm', 'the criteria-less registration of the module serves its tokens');
    }
    const free = (await service.snapshot()).filter((e) => !e.card);
    assert.ok(free.length >= 1, 'SoftHSM2 offers one free slot');
    const status = await service.SCardStatus(free[0]!.szReader);
    assert.equal(status.card, undefined);
    assert.equal(status.present, true, 'PKCS#11 reports the blank token as present');
    // The registry's rule, not this layer's: a criteria-less registration claims every present token
    // of its module, blank ones included (the module that lists a blank token is the one to initialise it).
    assert.equal(status.provider, 'softhsm');
  });

  it('SCardStatus of an unknown reader is SCARD_E_UNKNOWN_READER', async () => {
    await expectCryptError(() => service.SCardStatus('no such reader'), 'SCARD_E_UNKNOWN_READER');
  });

  it('close() is idempotent and a closed service refuses work with SCARD_E_NO_SERVICE', async () => {
    const s = new ReaderService([reg({ name: 'softhsm' }, '2024-01-01T00:00:00.000Z', 1)], newDriver);
    await s.SCardListReaders();
    await s.close();
    await s.close();
    await expectCryptError(() => s.SCardListReaders(), 'SCARD_E_NO_SERVICE');
  });
});

describe('smartcard: provider resolution per reader', () => {
  it('the most recently installed matching registration wins; non-matching later ones do not', async () => {
    const regs = [
      reg({ name: 'generic' }, '2024-01-01T00:00:00.000Z', 1),
      reg({ name: 'a-old', match: { label: 'rd-list-a' } }, '2024-02-01T00:00:00.000Z', 2),
      reg({ name: 'a-new', match: { label: 'rd-list-?' , serial: a.serial } }, '2024-03-01T00:00:00.000Z', 3),
      // Same install time as a-new, lower sequence: a-new still wins for token a.
      reg({ name: 'a-same-ms', match: { label: 'rd-list-a' } }, '2024-03-01T00:00:00.000Z', 2),
      reg({ name: 'plugin-b', kind: 'plugin', plugin: '/opt/plugins/b.js', match: { serial: b.serial } }, '2024-04-01T00:00:00.000Z', 4),
      // Newest of all, but claims a token that is not there.
      reg({ name: 'absent', match: { label: 'not-inserted' } }, '2025-01-01T00:00:00.000Z', 5),
    ];
    const s = new ReaderService(regs, newDriver);
    try {
      const entries = await s.snapshot();
      const ra = entries.find((e) => e.card?.label === a.label)!;
      const rb = entries.find((e) => e.card?.label === b.label)!;
      assert.equal((await s.SCardStatus(ra.szReader)).provider, 'a-new');
      assert.equal((await s.SCardStatus(rb.szReader)).provider, 'plugin-b', 'a plug-in serves a card a driver reader shows');
      for (const e of entries.filter((x) => x.card && x !== ra && x !== rb)) assert.equal(e.provider, 'generic');
    } finally {
      await s.close();
    }
  });

  it('two drivers listing the same names: later ones are suffixed with the driver name, providers follow the module', async () => {
    const alias = 'softhsm-second-registration';
    const regs = [
      reg({ name: 'first' }, '2024-01-01T00:00:00.000Z', 1),
      reg({ name: 'second', module: alias }, '2024-02-01T00:00:00.000Z', 2),
    ];
    const made: string[] = [];
    // The second "module" is the same SoftHSM2 library under another registration path.
    const s = new ReaderService(regs, (path) => {
      made.push(path);
      return wrap(newDriver(SOFTHSM2_MODULE), path === alias ? 'second' : 'first');
    });
    try {
      const entries = await s.snapshot();
      assert.deepEqual(made, [SOFTHSM2_MODULE, alias], 'one driver per distinct module path');
      const names = entries.map((e) => e.szReader);
      assert.equal(new Set(names).size, names.length, 'unique across drivers');
      const firsts = entries.filter((e) => e.module === SOFTHSM2_MODULE);
      const seconds = entries.filter((e) => e.module === alias);
      assert.equal(firsts.length, seconds.length);
      for (const e of firsts) {
        assert.equal(e.szReader, e.state.szReader, 'the first driver keeps the plain names');
        const twin = seconds.find((x) => x.szReader === `${e.szReader} (second)`);
        assert.ok(twin, `the second driver's "${e.szReader}" is suffixed`);
        if (e.card) {
          assert.equal(e.provider, 'first');
          assert.equal(twin.provider, 'second', 'a criteria-less registration serves only its own module\'s readers');
        }
      }
      await s.SCardStatus(`${firsts[0]!.szReader} (second)`);
    } finally {
      await s.close();
    }
  });
});

describe('smartcard: insertion and removal events', () => {
  const hidden = new Set<string>();
  let driver: ReturnType<typeof wrap>;
  let service: ReaderService;

  beforeEach(() => {
    hidden.clear();
    service = new ReaderService([reg({ name: 'softhsm' }, '2024-01-01T00:00:00.000Z', 1)], (path) => {
      driver = wrap(newDriver(path), 'softhsm', (readers) => readers.map((r) => (r.card && hidden.has(r.card.label) ? { szReader: r.szReader, cardPresent: false } : r)));
      return driver;
    });
  });

  afterEach(() => service.close());

  it('a removal and a re-insertion are events; the removal listener drops the card\'s cached PIN', async () => {
    const pins = new PinCache();
    const policy = { dwVersion: 6, PinCachePolicyType: PinCacheNormal, dwPinCachePolicyInfo: 0 };
    pins.putVerified(a.serial, 1, Buffer.from(a.pin), policy);
    pins.putVerified(b.serial, 1, Buffer.from(b.pin), policy);
    const removedSeen: ReaderEvent[] = [];
    service.onRemoved((event) => {
      removedSeen.push(event);
      if (event.card) pins.drop(event.card.serial);
    });
    const timersBefore = await timersAfterPause();
    const events = service.watch({ intervalMs: 10 });
    try {
      const first = events.next();
      // Baseline plus one quiet poll: cards already present produce no events.
      await until(() => (driver?.calls ?? 0) >= 2, 'the baseline poll');
      const readerOfA = (await service.snapshot()).find((e) => e.card?.label === a.label)!.szReader;
      hidden.add(a.label);
      const removed = await first;
      assert.equal(removed.done, false);
      assert.deepEqual({ ...removed.value, card: removed.value.card?.serial }, { type: 'removed', szReader: readerOfA, card: a.serial });
      assert.equal(removedSeen.length, 1, 'the removal listener ran');
      assert.equal(pins.has(a.serial, 1), false, 'the removed card\'s PIN is dropped');
      assert.equal(pins.has(b.serial, 1), true, 'other cards keep theirs');
      assert.deepEqual((await service.SCardStatus(readerOfA)).present, false);

      hidden.delete(a.label);
      const inserted = await events.next();
      assert.equal(inserted.value?.type, 'inserted');
      assert.equal(inserted.value?.szReader, readerOfA);
      assert.equal(inserted.value?.card?.serial, a.serial);
    } finally {
      const ended = await events.return!();
      assert.equal(ended.done, true);
      pins.clear();
    }
    assert.equal((await events.next()).done, true, 'a returned iterator stays done');
    assert.ok((await timersAfterPause()) <= timersBefore, 'return() left no timer running');
  });

  it('aborting the signal ends a pending next() at once, without waiting for the interval', async () => {
    const controller = new AbortController();
    const events = service.watch({ intervalMs: 60_000, signal: controller.signal });
    const pending = events.next();
    await until(() => (driver?.calls ?? 0) >= 1, 'the baseline poll');
    const started = Date.now();
    controller.abort();
    assert.equal((await pending).done, true);
    assert.ok(Date.now() - started < 5_000, 'ended promptly');
  });

  it('return() while a next() is pending ends both at once and clears the interval timer', async () => {
    const timersBefore = await timersAfterPause();
    const events = service.watch({ intervalMs: 60_000 });
    const pending = events.next();
    await until(() => (driver?.calls ?? 0) >= 1, 'the baseline poll');
    const started = Date.now();
    const [ended, next] = await Promise.all([events.return!(), pending]);
    assert.equal(ended.done, true);
    assert.equal(next.done, true);
    assert.ok(Date.now() - started < 5_000, 'ended promptly, not after the interval');
    assert.ok((await timersAfterPause()) <= timersBefore, 'the 60 s timer is gone');
  });

  it('another card in the same reader between two polls is a removal then an insertion; a vanished reader removes its card', async () => {
    const cards = new Map((await service.snapshot()).filter((e) => e.card).map((e) => [e.card!.label, e]));
    const ca = cards.get(a.label)!;
    const cb = cards.get(b.label)!;
    const events = diffReaders(new Map([['R1', ca.card], ['R2', cb.card]]), new Map([['R1', cb.card]]));
    assert.deepEqual(events.map((e) => [e.type, e.szReader, e.card?.label]), [
      ['removed', 'R1', a.label], ['removed', 'R2', b.label], ['inserted', 'R1', b.label],
    ]);
  });

  it('for-await with break stops the watcher', async () => {
    const timersBefore = await timersAfterPause();
    const seen: ReaderEvent[] = [];
    setTimeout(() => hidden.add(b.label), 50);
    for await (const event of service.watch({ intervalMs: 10 })) {
      seen.push(event);
      break;
    }
    assert.equal(seen[0]?.type, 'removed');
    assert.equal(seen[0]?.card?.label, b.label);
    assert.ok((await timersAfterPause()) <= timersBefore, 'no timer left running');
  });
});
