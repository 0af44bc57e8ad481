/**
 * Authentication around private-key operations on real SoftHSM2 tokens: the PIN cache under each
 * cache policy, the UI asked once and then not again, wrong PINs never cached, silent contexts, and a
 * removed card's PINs dropped.
 *
 * The cache policy comes from the card's PIN_INFO. SoftHSM2 cards say PinCacheNormal, so the other
 * policies are given by a wrapper around the real card context that answers PIN_INFO differently and
 * counts CardAuthenticateEx calls (fault injection around the real module; every other call is the
 * card's own).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CardModule } from '../../minidriver/card-module.js';
import {
  AT_KEYEXCHANGE, CALG_SHA_256, CARD_CREATE_CONTAINER_KEY_GEN, CP_CARD_PIN_INFO, PinCacheAlwaysPrompt, PinCacheNone, PinCacheNormal,
  PinCacheTimed, ROLE_USER,
} from '../../minidriver/constants.js';
import { assertCreateAllowed, authenticate, pinCacheCard, presentPin, withAuthentication } from '../../smartcard/authentication.js';
import { SmartCard } from '../../smartcard/card.js';
import { DataCache, MemoryCacheBackend } from '../../smartcard/data-cache.js';
import { LmdbCacheBackend } from '../../smartcard/global-cache-store.js';
import { PinCache } from '../../smartcard/pin-cache.js';
import type { SmartCardService } from '../../smartcard/service.js';
import { Interaction, setUserInterface } from '../../smartcard/ui.js';
import { expectCryptError, makeToken } from '../pkcs11-bridge/helpers.js';
import { newService, type ReaderControl, useScriptedUi } from './service-helpers.js';

const T = makeToken('auth-a');
const silent = new Interaction(true);
const loud = new Interaction(false);

interface Probe {
  card: SmartCard;
  authentications: number;
  deauthentications: number;
}

/** The real card context seen through a wrapper that reports `policy` and counts authentications. */
async function probe(service: SmartCardService, policy: number, seconds = 0): Promise<Probe> {
  const entry = (await service.snapshot()).find((e) => e.card?.label === T.label)!;
  const real = await entry.driver.CardAcquireContext({ dwVersion: 7, hScard: entry.state.hScard });
  const counts = { authentications: 0, deauthentications: 0 };
  const wrapped = new Proxy(real, {
    get(target, prop, receiver) {
      if (prop === 'CardGetProperty') {
        return async (name: string, flags?: number) => {
          const value = await target.CardGetProperty(name as never, flags);
          if (name !== CP_CARD_PIN_INFO) return value;
          return { ...(value as object), PinCachePolicy: { dwVersion: 6, PinCachePolicyType: policy, dwPinCachePolicyInfo: seconds } };
        };
      }
      if (prop === 'CardAuthenticateEx') return (...args: Parameters<CardModule['CardAuthenticateEx']>) => { counts.authentications++; return target.CardAuthenticateEx(...args); };
      if (prop === 'CardDeauthenticateEx') return (...args: Parameters<CardModule['CardDeauthenticateEx']>) => { counts.deauthentications++; return target.CardDeauthenticateEx(...args); };
      return Reflect.get(target, prop, receiver);
    },
  }) as CardModule;
  const card = await SmartCard.open(entry.szReader, entry.card!, wrapped, { global: null, session: new DataCache(new MemoryCacheBackend()) });
  return Object.defineProperties(counts, { card: { value: card, enumerable: true } }) as Probe;
}

describe('smartcard: authentication and the PIN cache', function () {
  this.timeout(120_000);
  const control: ReaderControl = { hidden: new Set() };
  let service: SmartCardService;
  let container = -1;

  before(async () => {
    service = newService('auth-', control);
    const { card } = await probe(service, PinCacheNormal);
    await presentPin({ card, pins: service.pins, interaction: silent, pinId: ROLE_USER, operation: 'setup' }, Buffer.from(T.pin));
    container = (await card.addContainer('auth-key')).index;
    await card.createKey(container, CARD_CREATE_CONTAINER_KEY_GEN, AT_KEYEXCHANGE, 1024, null);
    await card.deauthenticate(ROLE_USER);
    service.pins.clear();
    await card.close();
  });
  afterEach(async () => {
    setUserInterface(null);
    service.pins.clear();
  });
  after(() => service.close());

  const sign = (card: SmartCard) => () => card.module.CardSignData({ dwVersion: 2, bContainerIndex: container, dwKeySpec: AT_KEYEXCHANGE, dwSigningFlags: 0, aiHashAlg: CALG_SHA_256, pbData: Buffer.alloc(32, 7) });
  const ctxOf = (p: Probe, pins: PinCache, interaction: Interaction) => ({ card: p.card, pins, interaction, pinId: ROLE_USER, container: 'auth-key', operation: 'sign' });

  it('Normal: the UI is asked once; the PIN is then cached and reused, the card stays authenticated', async () => {
    const p = await probe(service, PinCacheNormal);
    const ui = useScriptedUi();
    ui.pins = [T.pin];
    await withAuthentication(ctxOf(p, service.pins, loud), sign(p.card));
    await withAuthentication(ctxOf(p, service.pins, loud), sign(p.card));
    assert.equal(ui.pinRequests.length, 1, 'asked once');
    assert.equal(p.authentications, 1, 'authenticated once');
    assert.equal(p.deauthentications, 0);
    assert.equal(service.pins.has(pinCacheCard(p.card), ROLE_USER), true);
    assert.equal(ui.pinRequests[0]!.container, 'auth-key');
    assert.equal(ui.pinRequests[0]!.card.serial, T.serial);
    await p.card.deauthenticate(ROLE_USER);
    await withAuthentication(ctxOf(p, service.pins, silent), sign(p.card));
    assert.equal(p.authentications, 2, 'the cached PIN re-authenticates a silent context without the UI');
    await p.card.close();
  });

  it('a wrong PIN is asked again with retry set, and never cached', async () => {
    const p = await probe(service, PinCacheNormal);
    await p.card.deauthenticate(ROLE_USER);
    const ui = useScriptedUi();
    ui.pins = ['wrong-pin-1', T.pin];
    await withAuthentication(ctxOf(p, service.pins, loud), sign(p.card));
    assert.equal(ui.pinRequests.length, 2);
    assert.equal(ui.pinRequests[0]!.retry, false);
    assert.equal(ui.pinRequests[1]!.retry, true);
    // SoftHSM2, like most PKCS#11 cards, does not say how many tries are left: the prompt says nothing
    // rather than a count (PinPromptRequest: undefined unless the card says).
    assert.equal(ui.pinRequests[1]!.attemptsRemaining, undefined);
    const cached = service.pins.get(pinCacheCard(p.card), ROLE_USER)!;
    assert.equal(cached.toString(), T.pin, 'only the accepted PIN is cached');
    cached.fill(0);
    await p.card.close();
  });

  it('silent without a cached PIN: NTE_SILENT_CONTEXT, UI never called', async () => {
    const p = await probe(service, PinCacheNormal);
    await p.card.deauthenticate(ROLE_USER);
    const ui = useScriptedUi();
    await expectCryptError(() => withAuthentication(ctxOf(p, service.pins, silent), sign(p.card)), 'NTE_SILENT_CONTEXT');
    assert.equal(ui.pinRequests.length, 0);
    await p.card.close();
  });

  it('cancel at the PIN prompt is SCARD_W_CANCELLED_BY_USER', async () => {
    const p = await probe(service, PinCacheNormal);
    await p.card.deauthenticate(ROLE_USER);
    useScriptedUi().pins = [null];
    await expectCryptError(() => withAuthentication(ctxOf(p, service.pins, loud), sign(p.card)), 'SCARD_W_CANCELLED_BY_USER');
    await p.card.close();
  });

  it('a wrong PIN given by the application is SCARD_W_WRONG_CHV and not cached', async () => {
    const p = await probe(service, PinCacheNormal);
    await expectCryptError(() => presentPin(ctxOf(p, service.pins, silent), Buffer.from('not-the-pin')), 'SCARD_W_WRONG_CHV');
    assert.equal(service.pins.has(pinCacheCard(p.card), ROLE_USER), false);
    await p.card.close();
  });

  it('a cached PIN the card refuses (changed elsewhere) is dropped and the UI asked', async () => {
    const p = await probe(service, PinCacheNormal);
    await p.card.deauthenticate(ROLE_USER);
    service.pins.putVerified(pinCacheCard(p.card), ROLE_USER, Buffer.from('stale-pin'), { dwVersion: 6, PinCachePolicyType: PinCacheNormal, dwPinCachePolicyInfo: 0 });
    const ui = useScriptedUi();
    ui.pins = [T.pin];
    await authenticate(ctxOf(p, service.pins, loud));
    assert.equal(ui.pinRequests.length, 1);
    const cached = service.pins.get(pinCacheCard(p.card), ROLE_USER)!;
    assert.equal(cached.toString(), T.pin);
    cached.fill(0);
    await p.card.close();
  });

  it('None: authenticated only around the operation, nothing cached', async () => {
    const p = await probe(service, PinCacheNone);
    const ui = useScriptedUi();
    ui.pins = [T.pin, T.pin];
    await withAuthentication(ctxOf(p, service.pins, loud), sign(p.card));
    await withAuthentication(ctxOf(p, service.pins, loud), sign(p.card));
    assert.equal(ui.pinRequests.length, 2, 'asked every time');
    assert.equal(p.deauthentications, 2, 'deauthenticated after each operation');
    assert.equal(await p.card.isAuthenticated(ROLE_USER), false, 'the card is not left authenticated');
    assert.equal(service.pins.size, 0);
    await p.card.close();
  });

  it('AlwaysPrompt: the UI before every use; silent contexts fail; a PIN property is accepted without verifying', async () => {
    const p = await probe(service, PinCacheAlwaysPrompt);
    await presentPin(ctxOf(p, service.pins, silent), Buffer.from('anything'));
    assert.equal(p.authentications, 0, 'not verified');
    await expectCryptError(() => withAuthentication(ctxOf(p, service.pins, silent), sign(p.card)), 'NTE_SILENT_CONTEXT');
    const ui = useScriptedUi();
    ui.pins = [T.pin, T.pin];
    await withAuthentication(ctxOf(p, service.pins, loud), sign(p.card));
    await withAuthentication(ctxOf(p, service.pins, loud), sign(p.card));
    assert.equal(ui.pinRequests.length, 2);
    assert.equal(await p.card.isAuthenticated(ROLE_USER), false);
    await p.card.close();
  });

  it('Timed: after the time the card is deauthenticated and the PIN asked again', async () => {
    let now = 1_000_000;
    const pins = new PinCache(() => now);
    const p = await probe(service, PinCacheTimed, 60);
    await p.card.deauthenticate(ROLE_USER);
    const ui = useScriptedUi();
    ui.pins = [T.pin, T.pin];
    await withAuthentication(ctxOf(p, pins, loud), sign(p.card));
    now += 30_000;
    await withAuthentication(ctxOf(p, pins, loud), sign(p.card));
    assert.equal(ui.pinRequests.length, 1, 'within the time: no prompt');
    now += 31_000;
    await withAuthentication(ctxOf(p, pins, loud), sign(p.card));
    assert.equal(ui.pinRequests.length, 2, 'after the time: asked again');
    assert.ok(p.deauthentications >= 1, 'the expired authentication was ended');
    pins.clear();
    await p.card.close();
  });

  it('container creation is never silent unless the PIN is cached', async () => {
    const p = await probe(service, PinCacheNormal);
    const ctx = { card: p.card, pins: service.pins, interaction: silent, pinId: ROLE_USER, operation: 'create' };
    await expectCryptError(async () => assertCreateAllowed(ctx), 'NTE_SILENT_CONTEXT');
    await presentPin(ctx, Buffer.from(T.pin));
    assertCreateAllowed(ctx);
    assertCreateAllowed({ ...ctx, pins: new PinCache(), interaction: loud });
    await p.card.close();
  });

  it('no PIN byte reaches a file, a log or an error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'p11ksp-pinleak-'));
    const captured: string[] = [];
    const writes = { out: process.stdout.write, err: process.stderr.write };
    const capture = (chunk: unknown) => { captured.push(String(chunk)); return true; };
    const errors: unknown[] = [];
    const leaky = newService('auth-', control, { globalCache: new LmdbCacheBackend(join(dir, 'cache')), lockFolder: join(dir, 'locks') });
    try {
      process.stdout.write = capture as typeof process.stdout.write;
      process.stderr.write = capture as typeof process.stderr.write;
      const entry = (await leaky.snapshot()).find((e) => e.card?.label === T.label)!;
      const card = await leaky.cardIn(entry);
      const ctx = { card, pins: leaky.pins, interaction: loud, pinId: ROLE_USER, container: 'auth-key', operation: 'sign' };
      const ui = useScriptedUi();
      ui.pins = [`${T.pin}x`, T.pin];
      await card.deauthenticate(ROLE_USER);
      await withAuthentication(ctx, () => card.module.CardSignData({ dwVersion: 2, bContainerIndex: container, dwKeySpec: AT_KEYEXCHANGE, dwSigningFlags: 0, aiHashAlg: CALG_SHA_256, pbData: Buffer.alloc(32, 1) }));
      await card.transaction(() => card.containers());
      for (const wrong of [`${T.pin}y`, T.pin.slice(0, -1)]) {
        try {
          await presentPin(ctx, Buffer.from(wrong));
        } catch (err) {
          errors.push(err);
        }
      }
    } finally {
      process.stdout.write = writes.out;
      process.stderr.write = writes.err;
      await leaky.close();
    }
    assert.equal(errors.length, 2, 'the wrong PINs were refused');
    const needles = [T.pin, T.pin.slice(0, -1)].flatMap((p) => [Buffer.from(p, 'utf8'), Buffer.from(p, 'utf16le')]);
    const texts = [...captured, ...errors.map((e) => `${String(e)} ${(e as Error).stack} ${JSON.stringify(e)} ${JSON.stringify((e as { cause?: unknown }).cause ?? null)}`)];
    for (const text of texts) for (const needle of needles) assert.equal(Buffer.from(text).includes(needle), false, 'a PIN appeared in output or an error');
    const files = readdirSync(dir, { recursive: true, withFileTypes: true }).filter((f) => f.isFile());
    assert.ok(files.length > 0, 'the cache and lock folders were written');
    for (const f of files) {
      const bytes = readFileSync(join(f.parentPath, f.name));
      for (const needle of needles) assert.equal(bytes.includes(needle), false, `a PIN reached ${f.name}`);
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('the background monitor sees a removal and drops the card PINs with nobody using the card', async () => {
    const entry = (await service.snapshot()).find((e) => e.card?.label === T.label)!;
    const card = await service.cardIn(entry);
    await presentPin({ card, pins: service.pins, interaction: silent, pinId: ROLE_USER, operation: 't' }, Buffer.from(T.pin));
    const other = await entry.driver.CardAcquireContext({ dwVersion: 7, hScard: entry.state.hScard }); // another user of the card
    service.monitor(10);
    await new Promise((resolve) => setTimeout(resolve, 50)); // the watcher's baseline poll
    control.hidden.add(T.label);
    const deadline = Date.now() + 10_000;
    while (service.pins.has(pinCacheCard(card), ROLE_USER) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    control.hidden.delete(T.label);
    assert.equal(service.pins.has(pinCacheCard(card), ROLE_USER), false, 'PINs dropped on removal');
    assert.equal(card.isRemoved, true, 'the open card is marked removed');
    await expectCryptError(() => card.containers(), 'SCARD_W_REMOVED_CARD');
    await expectCryptError(() => other.CardQueryCapabilities(), 'SCARD_W_REMOVED_CARD', 'the driver dropped its state for the card');
    await other.CardDeleteContext();
  });

  it('a removal drops the card PINs and its open context', async () => {
    const entry = (await service.snapshot()).find((e) => e.card?.label === T.label)!;
    const card = await service.cardIn(entry);
    await presentPin({ card, pins: service.pins, interaction: silent, pinId: ROLE_USER, operation: 't' }, Buffer.from(T.pin));
    assert.equal(service.pins.has(pinCacheCard(card), ROLE_USER), true);
    await service.cardRemoved(entry.szReader, entry.card!);
    assert.equal(service.pins.has(pinCacheCard(card), ROLE_USER), false);
    await expectCryptError(() => card.containers(), 'SCARD_W_REMOVED_CARD');
    const reopened = await service.cardIn((await service.snapshot()).find((e) => e.card?.label === T.label)!);
    assert.notEqual(reopened, card, 'a reinserted card is opened afresh');
    assert.ok((await reopened.containers()).some((c) => c.name === 'auth-key'));
  });
});
