/**
 * Card removal: the smart-card layer tells the driver (releaseCard) that a card left its reader, or a
 * token call itself finds the card gone. Old contexts must then answer SCARD_W_REMOVED_CARD (and still
 * be deletable), and the card, once back, must work with fresh state in the same process.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pkcs11js from 'pkcs11js';
import type { CardModule } from '../../minidriver/card-module.js';
import type { Pkcs11Minidriver } from '../../pkcs11-bridge/index.js';
import {
  digest, expectCryptError, graphenePublicKey, makeToken, newDriver, openContext, pin, readCmap, SOFTHSM2_MODULE, verifyEcdsa,
  verifyRsaPkcs1,
} from './helpers.js';

const card = makeToken('br-release');
const otherCard = makeToken('br-release-other');
const pulled = makeToken('br-release-pulled');

const AT_KEYEXCHANGE = 1;
const AT_ECDSA_P256 = 3;
const CALG_SHA_256 = 0x800c;
const CKF_TOKEN_PRESENT = 0x1; // pkcs11js does not export the slot flags

const signRsa = (ctx: CardModule, message: Buffer) => ctx.CardSignData({
  dwVersion: 2, bContainerIndex: 0, dwKeySpec: AT_KEYEXCHANGE, dwSigningFlags: 0, aiHashAlg: CALG_SHA_256, pbData: digest('sha256', message),
});
const signEc = (ctx: CardModule, message: Buffer) => ctx.CardSignData({
  dwVersion: 2, bContainerIndex: 0, dwKeySpec: AT_ECDSA_P256, dwSigningFlags: 0, aiHashAlg: 0, pbData: digest('sha256', message),
});

/** White-box: the shared per-card state behind a context (fresh state = another object). */
function stateOf(ctx: CardModule): unknown {
  return (ctx as unknown as { state: unknown }).state;
}

/** Every entry point of a context on a removed card fails the same way, with a message saying what to do. */
async function expectRemoved(ctx: CardModule, what: string): Promise<void> {
  const calls: [string, () => Promise<unknown>][] = [
    ['CardQueryCapabilities', () => ctx.CardQueryCapabilities()],
    ['CardReadFile', () => ctx.CardReadFile(null, 'cardid')],
    ['CardSignData', () => signRsa(ctx, randomBytes(8))],
    ['CardGetContainerInfo', () => ctx.CardGetContainerInfo(0)],
    ['CardGetProperty', () => ctx.CardGetProperty('Card Identifier')],
    ['CardAuthenticatePin', () => ctx.CardAuthenticatePin('user', pin(card.pin))],
    ['CardQueryFreeSpace', () => ctx.CardQueryFreeSpace()],
    ['CardGetChallenge (unsupported)', () => ctx.CardGetChallenge()],
  ];
  for (const [name, call] of calls) {
    const err = await expectCryptError(call, 'SCARD_W_REMOVED_CARD', `${what}: ${name}`);
    assert.match(err.message, /insert it again/, `${what}: ${name} tells the user to insert the card`);
    assert.match(err.message, /new context/, `${what}: ${name} tells the user to open a new context`);
  }
}

describe('pkcs11-bridge: releaseCard (the smart-card layer saw the card leave)', () => {
  let driver: Pkcs11Minidriver;
  let ctx: CardModule;
  let sibling: CardModule; // a second context of the same driver on the same card
  let onOther: CardModule; // the same driver, another card
  let otherDriver: Pkcs11Minidriver; // another driver on the same card
  let viaOtherDriver: CardModule;
  let cardid: Buffer;
  let containerName: string;

  before(async function () {
    this.timeout(60_000);
    driver = newDriver();
    ctx = await openContext(driver, card.label);
    await ctx.CardAuthenticatePin('user', pin(card.pin));
    await ctx.CardCreateContainer(0, 1, AT_KEYEXCHANGE, 1024);
    await signRsa(ctx, randomBytes(8));
    sibling = await openContext(driver, card.label);
    onOther = await openContext(driver, otherCard.label);
    otherDriver = newDriver();
    viaOtherDriver = await openContext(otherDriver, card.label);
    cardid = await ctx.CardReadFile(null, 'cardid');
    containerName = (await readCmap(ctx))[0]!.name;
  });

  after(async () => {
    await driver.close();
    await otherDriver.close();
  });

  it('releasing a card the driver does not hold is a no-op', async () => {
    await driver.releaseCard({ label: 'no-such-card', serial: '0000000000000000' });
    await driver.releaseCard({ label: card.label, serial: otherCard.serial }); // label and serial must both match
    await driver.releaseCard({ label: otherCard.label, serial: card.serial });
    assert.deepEqual(await ctx.CardReadFile(null, 'cardid'), cardid);
    assert.ok((await signRsa(ctx, randomBytes(8))).length > 0, 'still authenticated: nothing was dropped');
    assert.equal((await onOther.CardReadFile(null, 'cardid')).length, 16);
  });

  it('after releaseCard, every context of the driver on the card answers SCARD_W_REMOVED_CARD', async () => {
    await driver.releaseCard({ label: card.label, serial: card.serial });
    await expectRemoved(ctx, 'first context');
    await expectRemoved(sibling, 'second context on the same card');
  });

  it('another card of the same driver is unaffected', async () => {
    assert.equal((await onOther.CardReadFile(null, 'cardid')).length, 16);
    assert.ok((await onOther.CardQueryCapabilities()).dwVersion > 0);
    await onOther.CardAuthenticatePin('user', pin(otherCard.pin));
  });

  it('another driver keeps its own hold on the card (the shared state is reference-counted)', async () => {
    assert.deepEqual(await viaOtherDriver.CardReadFile(null, 'cardid'), cardid);
    await viaOtherDriver.CardDeleteContext();
    await otherDriver.close(); // the last holder: the card's sessions close and with them the login
  });

  it('CardDeleteContext still succeeds on the removed card, and again', async () => {
    await ctx.CardDeleteContext();
    await ctx.CardDeleteContext();
    await sibling.CardDeleteContext();
    await expectCryptError(() => ctx.CardReadFile(null, 'cardid'), 'SCARD_E_INVALID_HANDLE', 'a deleted context');
  });

  it('releasing it again is a no-op', async () => {
    await driver.releaseCard({ label: card.label, serial: card.serial });
  });

  it('the card acquired again (listReaders + CardAcquireContext): fresh state, same cardid and containers', async () => {
    const reader = (await driver.listReaders()).find((r) => r.card?.label === card.label);
    assert.ok(reader?.hScard, 'listReaders lists the card again');
    const again = await driver.CardAcquireContext({ dwVersion: 7, hScard: reader.hScard });
    try {
      assert.notEqual(stateOf(again), stateOf(ctx), 'new per-card state, not the released one');
      assert.deepEqual(await again.CardReadFile(null, 'cardid'), cardid);
      assert.equal((await readCmap(again))[0]!.name, containerName);
      assert.ok((await again.CardGetContainerInfo(0)).pbKeyExPublicKey, 'the container\'s key is found');
      await expectCryptError(() => signRsa(again, randomBytes(8)), 'SCARD_W_SECURITY_VIOLATION', 'the login went with the old state');
      await again.CardAuthenticatePin('user', pin(card.pin));
      const message = randomBytes(24);
      assert.ok(verifyRsaPkcs1(graphenePublicKey(card.label, containerName, 'RSA'), 'sha256', message, await signRsa(again, message)));
      const second = await openContext(driver, card.label);
      assert.equal(stateOf(second), stateOf(again), 'later contexts share the new state');
      await second.CardDeleteContext();
    } finally {
      await again.CardDeleteContext();
    }
    await onOther.CardDeleteContext();
  });

  it('after the driver is closed, releaseCard is a no-op', async () => {
    const extra = newDriver();
    await openContext(extra, card.label);
    await extra.close();
    await extra.releaseCard({ label: card.label, serial: card.serial });
  });
});

// ---------------------------------------------------------------------------------------------
// A card pulled without anyone calling releaseCard: the token's own calls fail.

interface SlotToken { pkcs11: pkcs11js.PKCS11; slot: Buffer }

/**
 * Pulls the card out of its slot as a PKCS#11 module shows it: its sessions are gone (a real
 * C_CloseAllSessions: CKR_SESSION_HANDLE_INVALID from then on), the slot reports no token
 * (CKF_TOKEN_PRESENT clear, absent from C_GetSlotList(true)) and C_GetTokenInfo / C_OpenSession answer
 * CKR_TOKEN_NOT_PRESENT. Returns "insert it again". White-box: patches the driver's module instance.
 */
function pullCard(ctx: CardModule): () => void {
  const { pkcs11, slot } = (ctx as unknown as { state: { token: SlotToken } }).state.token;
  pkcs11.C_CloseAllSessions(slot);
  const isSlot = (s: unknown) => Buffer.isBuffer(s) && s.equals(slot);
  const notPresent = (fn: string) => new pkcs11js.Pkcs11Error('CKR_TOKEN_NOT_PRESENT', pkcs11js.CKR_TOKEN_NOT_PRESENT, fn);
  const target = pkcs11 as unknown as Record<string, (...args: unknown[]) => unknown>;
  const names = ['C_GetSlotList', 'C_GetSlotInfo', 'C_GetTokenInfo', 'C_OpenSession'] as const;
  const own = new Map(names.map((n) => [n, Object.getOwnPropertyDescriptor(pkcs11, n)]));
  const real = new Map(names.map((n) => [n, target[n]!.bind(pkcs11)]));
  target.C_GetSlotList = (present) => (real.get('C_GetSlotList')!(present) as Buffer[]).filter((s) => !present || !isSlot(s));
  target.C_GetSlotInfo = (s) => {
    const info = real.get('C_GetSlotInfo')!(s) as pkcs11js.SlotInfo;
    return isSlot(s) ? { ...info, flags: info.flags & ~CKF_TOKEN_PRESENT } : info;
  };
  target.C_GetTokenInfo = (s) => {
    if (isSlot(s)) throw notPresent('C_GetTokenInfo');
    return real.get('C_GetTokenInfo')!(s);
  };
  target.C_OpenSession = (s, flags) => {
    if (isSlot(s)) throw notPresent('C_OpenSession');
    return real.get('C_OpenSession')!(s, flags);
  };
  return () => {
    for (const n of names) {
      const descriptor = own.get(n);
      if (descriptor) Object.defineProperty(pkcs11, n, descriptor);
      else delete target[n];
    }
  };
}

describe('pkcs11-bridge: a card pulled out under open contexts (token calls fail)', () => {
  let driver: Pkcs11Minidriver;
  let cardid: Buffer;
  let containerName: string;
  let reinsert: (() => void) | undefined;

  before(async function () {
    this.timeout(60_000);
    // Every signature on a pooled session of its own, so the pool's dead and new sessions meet the pull.
    driver = newDriver(SOFTHSM2_MODULE, { dispatch: { handoffMs: 0, maxInlineMs: 0 } });
    const ctx = await openContext(driver, pulled.label);
    await ctx.CardAuthenticatePin('user', pin(pulled.pin));
    await ctx.CardCreateContainer(0, 1, AT_ECDSA_P256, 256);
    cardid = await ctx.CardReadFile(null, 'cardid');
    containerName = (await readCmap(ctx))[0]!.name;
    await ctx.CardDeleteContext();
  });

  afterEach(() => {
    reinsert?.();
    reinsert = undefined;
  });

  after(() => driver.close());

  /** Two authenticated contexts that have used the card (sessions, cached key handles). */
  async function twoContexts(): Promise<[CardModule, CardModule]> {
    const a = await openContext(driver, pulled.label);
    const b = await openContext(driver, pulled.label);
    await a.CardAuthenticatePin('user', pin(pulled.pin));
    await signEc(a, randomBytes(8));
    await signEc(b, randomBytes(8));
    return [a, b];
  }

  async function expectWorksAgain(): Promise<void> {
    const ctx = await openContext(driver, pulled.label);
    try {
      assert.deepEqual(await ctx.CardReadFile(null, 'cardid'), cardid);
      assert.equal((await readCmap(ctx))[0]!.name, containerName);
      await ctx.CardAuthenticatePin('user', pin(pulled.pin));
      const message = randomBytes(16);
      assert.ok(verifyEcdsa(graphenePublicKey(pulled.label, containerName, 'EC', 256), 'sha256', message, await signEc(ctx, message)));
    } finally {
      await ctx.CardDeleteContext();
    }
  }

  it('a file read (anchor session) finds the card gone: SCARD_W_REMOVED_CARD on every context; back in, it works again', async () => {
    const [a, b] = await twoContexts();
    reinsert = pullCard(a);
    const err = await expectCryptError(() => a.CardReadFile(null, 'cardcf'), 'SCARD_W_REMOVED_CARD', 'the call that meets the dead session');
    assert.match(err.message, /insert it again and open a new context/);
    await expectCryptError(() => signEc(b, randomBytes(8)), 'SCARD_W_REMOVED_CARD', 'the other context, next call');
    await expectCryptError(() => a.CardQueryCapabilities(), 'SCARD_W_REMOVED_CARD', 'a call that needs no token');
    await expectCryptError(() => driver.openCard({ label: pulled.label }), 'SCARD_E_NO_SMARTCARD', 'no reader holds the card now');
    await a.CardDeleteContext();
    await b.CardDeleteContext();
    reinsert();
    reinsert = undefined;
    await expectWorksAgain();
  });

  it('signatures (a dead pooled session, a session that cannot open) find the card gone; releaseCard while it is out; back in, it works again', async () => {
    const [a, b] = await twoContexts();
    const handle = (await driver.listReaders()).find((r) => r.card?.label === pulled.label)!.hScard;
    reinsert = pullCard(a);
    await Promise.all([
      expectCryptError(() => signEc(a, randomBytes(8)), 'SCARD_W_REMOVED_CARD', 'the signature on the idle, now dead, pooled session'),
      expectCryptError(() => signEc(b, randomBytes(8)), 'SCARD_W_REMOVED_CARD', 'the signature that needs a new session'),
    ]);
    await expectCryptError(() => b.CardReadFile(null, 'cardid'), 'SCARD_W_REMOVED_CARD', 'the other context');
    await expectCryptError(() => driver.CardAcquireContext({ dwVersion: 7, hScard: handle }), 'SCARD_W_REMOVED_CARD', 'acquiring with the old handle');
    await driver.releaseCard({ label: pulled.label, serial: pulled.serial });
    await expectCryptError(() => a.CardGetContainerInfo(0), 'SCARD_W_REMOVED_CARD', 'after releaseCard too');
    await a.CardDeleteContext();
    await b.CardDeleteContext();
    reinsert();
    reinsert = undefined;
    await expectWorksAgain();
  });

  it('a dead session on a card still in its slot stays SCARD_W_RESET_CARD-or-recovered, never SCARD_W_REMOVED_CARD', async () => {
    const [a, b] = await twoContexts();
    const { pkcs11, slot } = (a as unknown as { state: { token: SlotToken } }).state.token;
    pkcs11.C_CloseAllSessions(slot); // a reset: sessions and login gone, the card still there
    await a.CardReadFile(null, 'cardid'); // the anchor is re-opened and the read retried
    const err = await signEc(b, randomBytes(8)).then(() => undefined, (e: unknown) => e as { codeName?: string });
    assert.notEqual(err?.codeName, 'SCARD_W_REMOVED_CARD', 'a reset is not a removal');
    assert.deepEqual(await b.CardReadFile(null, 'cardid'), cardid, 'the contexts keep working');
    await a.CardDeleteContext();
    await b.CardDeleteContext();
  });
});
