/**
 * CryptAcquireContext, CryptReleaseContext and CryptGenRandom on SoftHSM2 cards: providers and types
 * (A1), every flag and combination (A2–A10), the four container specification levels, and handle
 * hygiene (C1, R1). Outcomes are checked on the card itself (its container map, container info).
 */
import assert from 'node:assert/strict';
import { CryptAcquireContext, CryptGenRandom, CryptReleaseContext } from '../../csp-legacy/context.js';
import {
  CRYPT_DEFAULT_CONTAINER_OPTIONAL, CRYPT_DELETEKEYSET, CRYPT_MACHINE_KEYSET, CRYPT_NEWKEYSET, CRYPT_SILENT, CRYPT_VERIFYCONTEXT,
  MS_ENHANCED_PROV, MS_SCARD_PROV, PP_CONTAINER, PP_KEYSET_TYPE, PP_KEYSPEC, PP_NAME, PP_PROVTYPE, PP_SMARTCARD_READER,
  PROV_RSA_AES, PROV_RSA_FULL, PROV_RSA_SIG,
} from '../../csp-legacy/constants.js';
import { CryptGetProvParam } from '../../csp-legacy/prov-params.js';
import { onCard } from '../../csp-legacy/card-access.js';
import { HCRYPTHASH, HCRYPTKEY, type HCRYPTPROV, useHandle } from '../../csp-legacy/handles.js';
import type { HashState } from '../../csp-legacy/hash-state.js';
import type { SessionKey } from '../../csp-legacy/session-key.js';
import { containerKeySpecs } from '../../minidriver/codecs/index.js';
import { ROLE_USER } from '../../minidriver/constants.js';
import { pinCacheCard } from '../../smartcard/authentication.js';
import type { SmartCard } from '../../smartcard/card.js';
import { setCardPromptText } from '../../smartcard/ui.js';
import { expectCryptError } from '../pkcs11-bridge/helpers.js';
import type { SoftHsmToken } from '../rigs/index.js';
import { useScriptedUi } from '../smartcard/service-helpers.js';
import { type CspFixture, cspFixture } from './fixture.js';

let fx: CspFixture;
let A: SoftHsmToken;
let B: SoftHsmToken;
let C: SoftHsmToken;

async function names(label: string): Promise<string[]> {
  return (await (await fx.card(label)).containers(true)).map((c) => c.name);
}

/** The key specs a container holds, from the card (CardGetContainerInfo). */
async function keysOf(label: string, name: string): Promise<number[]> {
  const card = await fx.card(label);
  const container = (await card.containers(true)).find((c) => c.name === name);
  assert.ok(container, `${name} is on ${label}`);
  return containerKeySpecs(await card.containerInfo(container.index, true));
}

function acquire(container: string | null, flags = 0): Promise<HCRYPTPROV | null> {
  return CryptAcquireContext(container, MS_SCARD_PROV, PROV_RSA_FULL, flags);
}

describe('csp-legacy: contexts', function () {
  fx = cspFixture('csp-ctx', 3);
  [A, B, C] = fx.tokens as [SoftHsmToken, SoftHsmToken, SoftHsmToken];

  afterEach(async () => {
    setCardPromptText(null);
    await fx.login(); // tests that log out leave the next one its PINs
  });

  describe('providers and types (A1)', () => {
    it('MS_SCARD_PROV, null and "" name the smart card CSP of type PROV_RSA_FULL; the name is matched without regard to case', async () => {
      for (const provider of [MS_SCARD_PROV, null, '', MS_SCARD_PROV.toUpperCase()]) {
        const prov = await CryptAcquireContext(null, provider, PROV_RSA_FULL, CRYPT_VERIFYCONTEXT);
        assert.equal(await CryptGetProvParam(prov, PP_NAME), MS_SCARD_PROV, `PP_NAME for ${String(provider)}`);
        assert.equal(await CryptGetProvParam(prov, PP_PROVTYPE), PROV_RSA_FULL);
        await CryptReleaseContext(prov);
      }
    });

    it('types outside 1..999 are NTE_BAD_PROV_TYPE, checked before the provider name', async () => {
      for (const type of [0, 1000, -1, 1.5, Number.NaN, '1' as never, null as never]) {
        await expectCryptError(() => CryptAcquireContext(null, 'no such provider', type, 0), 'NTE_BAD_PROV_TYPE', String(type));
      }
    });

    it('another type in range: NTE_PROV_TYPE_NOT_DEF for the default provider, NTE_PROV_TYPE_NO_MATCH for MS_SCARD_PROV (PROV_RSA_AES too)', async () => {
      for (const type of [PROV_RSA_AES, PROV_RSA_SIG, 999]) {
        await expectCryptError(() => CryptAcquireContext(null, null, type, CRYPT_VERIFYCONTEXT), 'NTE_PROV_TYPE_NOT_DEF', `null, ${type}`);
        await expectCryptError(() => CryptAcquireContext(null, '', type, CRYPT_VERIFYCONTEXT), 'NTE_PROV_TYPE_NOT_DEF', `'', ${type}`);
        await expectCryptError(() => CryptAcquireContext(null, MS_SCARD_PROV, type, CRYPT_VERIFYCONTEXT), 'NTE_PROV_TYPE_NO_MATCH', `named, ${type}`);
      }
    });

    it('unknown provider names are NTE_KEYSET_NOT_DEF; a provider or container of the wrong type ERROR_INVALID_PARAMETER', async () => {
      await expectCryptError(() => CryptAcquireContext(null, MS_ENHANCED_PROV, PROV_RSA_FULL, CRYPT_VERIFYCONTEXT), 'NTE_KEYSET_NOT_DEF');
      await expectCryptError(() => CryptAcquireContext(null, 'Microsoft Base Smart Card Cryptographic Provider', PROV_RSA_FULL, 0), 'NTE_KEYSET_NOT_DEF', "Wine's misspelling is no provider");
      await expectCryptError(() => CryptAcquireContext(null, 42 as never, PROV_RSA_FULL, 0), 'ERROR_INVALID_PARAMETER');
      await expectCryptError(() => CryptAcquireContext(42 as never, MS_SCARD_PROV, PROV_RSA_FULL, 0), 'ERROR_INVALID_PARAMETER');
      await expectCryptError(() => CryptAcquireContext({} as never, null, PROV_RSA_FULL, 0), 'ERROR_INVALID_PARAMETER');
    });
  });

  describe('flags (A5, A7)', () => {
    it('unknown bits, part of CRYPT_VERIFYCONTEXT and values that are no DWORD are NTE_BAD_FLAGS', async () => {
      for (const flags of [0x1, 0x4, 0x100, 0x10000, 0x10000000, 0x70000000, -1, 1.5, 2 ** 32, -(2 ** 31) - 1, '0' as never]) {
        await expectCryptError(() => acquire(null, flags), 'NTE_BAD_FLAGS', String(flags));
      }
    });

    it('NEWKEYSET|DELETEKEYSET, VERIFYCONTEXT|DELETEKEYSET and all three are NTE_BAD_FLAGS, and the card is untouched', async () => {
      const name = fx.uniqueName();
      const qualified = await fx.qualified(name, A.label);
      const before = await names(A.label);
      for (const flags of [CRYPT_NEWKEYSET | CRYPT_DELETEKEYSET, CRYPT_VERIFYCONTEXT | CRYPT_DELETEKEYSET, CRYPT_VERIFYCONTEXT | CRYPT_NEWKEYSET | CRYPT_DELETEKEYSET,
        CRYPT_NEWKEYSET | CRYPT_DELETEKEYSET | CRYPT_SILENT | CRYPT_MACHINE_KEYSET]) {
        await expectCryptError(() => acquire(qualified, flags), 'NTE_BAD_FLAGS', `0x${(flags >>> 0).toString(16)}`);
      }
      assert.deepEqual(await names(A.label), before);
    });

    it('A5: CRYPT_VERIFYCONTEXT | CRYPT_NEWKEYSET is CRYPT_VERIFYCONTEXT: nothing is created', async () => {
      const prov = await fx.acquire(null, CRYPT_VERIFYCONTEXT | CRYPT_NEWKEYSET);
      assert.equal(prov.context.verifyOnly, true);
      assert.equal(prov.context.container, undefined);
      const name = fx.uniqueName();
      const qualified = await fx.qualified(name, A.label);
      await expectCryptError(() => acquire(qualified, CRYPT_VERIFYCONTEXT | CRYPT_NEWKEYSET), 'NTE_BAD_KEYSET', 'a missing container is not created');
      assert.ok(!(await names(A.label)).includes(name));
    });
  });

  describe('opening: the four container specification levels', () => {
    it('I `\\\\.\\<reader>\\<container>`, II `\\\\.\\<reader>\\` (and without the last backslash), III `<container>`, IV null', async () => {
      const onA = fx.uniqueName();
      const onB = fx.uniqueName();
      await fx.newContainer(onA, A.label);
      await fx.newContainer(onB, B.label);
      const cardA = await fx.card(A.label);
      const cardB = await fx.card(B.label);

      const one = await fx.acquire(await fx.qualified(onA, A.label));
      assert.equal(one.context.card, cardA);
      assert.equal(one.context.container?.name, onA);
      assert.equal(one.context.level, 1);
      assert.equal(await CryptGetProvParam(one, PP_CONTAINER), await fx.qualified(onA, A.label), 'PP_CONTAINER: as acquired (P4)');

      const defaultA = (await cardA.defaultContainer(true))!;
      for (const name of [await fx.qualified('', A.label), `\\\\.\\${await fx.readerOf(A.label)}`]) {
        const two = await fx.acquire(name);
        assert.equal(two.context.card, cardA, name);
        assert.equal(two.context.container?.name, defaultA.name, `${name}: the card's default container`);
        assert.equal(await CryptGetProvParam(two, PP_CONTAINER), defaultA.name, 'PP_CONTAINER: the container opened');
      }

      const three = await fx.acquire(onB);
      assert.equal(three.context.card, cardB, 'found on the card that holds it');
      assert.equal(three.context.container?.name, onB);
      assert.equal(await CryptGetProvParam(three, PP_CONTAINER), onB);

      const four = await fx.acquire(null);
      const card = four.context.card!;
      assert.ok(card === cardA || card === cardB);
      assert.equal(four.context.container?.name, (await card.defaultContainer(true))!.name, 'a default container of a card');
      assert.ok(four.context.container?.isDefault);
      assert.equal(await CryptGetProvParam(four, PP_CONTAINER), four.context.container?.name);
    });

    it('a missing container is NTE_BAD_KEYSET (A2) at every level; CRYPT_DEFAULT_CONTAINER_OPTIONAL gives levels II and IV a context without one', async () => {
      const missing = fx.uniqueName();
      await expectCryptError(() => acquire(missing), 'NTE_BAD_KEYSET', 'level III');
      const missingOnA = await fx.qualified(missing, A.label);
      await expectCryptError(() => acquire(missingOnA), 'NTE_BAD_KEYSET', 'level I');
      await expectCryptError(() => acquire(missing, CRYPT_SILENT | CRYPT_MACHINE_KEYSET), 'NTE_BAD_KEYSET', 'silent, machine');
      assert.deepEqual(await names(C.label), [], 'C has no container');
      const readerC = await fx.qualified('', C.label);
      await expectCryptError(() => acquire(readerC), 'NTE_BAD_KEYSET', 'level II: a card with no default container');
      const optional = await fx.acquire(readerC, CRYPT_DEFAULT_CONTAINER_OPTIONAL);
      assert.equal(optional.context.card, await fx.card(C.label));
      assert.equal(optional.context.container, undefined);
      assert.equal(await CryptGetProvParam(optional, PP_KEYSPEC), 3);

      // Level IV with only C present.
      await fx.remove(A.label);
      await fx.remove(B.label);
      await expectCryptError(() => acquire(null, CRYPT_SILENT), 'NTE_BAD_KEYSET', 'level IV: no card has a default container');
      const four = await fx.acquire(null, CRYPT_DEFAULT_CONTAINER_OPTIONAL | CRYPT_SILENT);
      assert.equal(four.context.card, await fx.card(C.label));
      assert.equal(four.context.container, undefined);
      assert.equal(await CryptGetProvParam(four, PP_CONTAINER), '', 'no container: an empty name');
      assert.deepEqual(await names(C.label), [], 'nothing was created');
      // A container name makes the flag irrelevant: it must exist.
      const missingOnC = await fx.qualified(missing, C.label);
      await expectCryptError(() => acquire(missingOnC, CRYPT_DEFAULT_CONTAINER_OPTIONAL), 'NTE_BAD_KEYSET');
    });

    it('an unknown reader is SCARD_E_UNKNOWN_READER; names a card cannot hold are NTE_BAD_KEYSET_PARAM; 39 characters are fine', async () => {
      await expectCryptError(() => acquire('\\\\.\\No Such Reader\\x'), 'SCARD_E_UNKNOWN_READER');
      await expectCryptError(() => acquire('\\\\.\\No Such Reader\\', CRYPT_VERIFYCONTEXT), 'SCARD_E_UNKNOWN_READER');
      const reader = await fx.readerOf(A.label);
      for (const bad of ['x'.repeat(40), `\\\\.\\${reader}\\${'y'.repeat(40)}`, '\\\\.\\\\x', 'a\\b', `\\\\.\\${reader}\\a\\b`, 'nul\0inside', `\\\\.\\${'r'.repeat(300)}\\x`]) {
        for (const flags of [0, CRYPT_NEWKEYSET, CRYPT_DELETEKEYSET, CRYPT_VERIFYCONTEXT]) {
          await expectCryptError(() => acquire(bad, flags), 'NTE_BAD_KEYSET_PARAM', `${JSON.stringify(bad.slice(0, 50))} with 0x${(flags >>> 0).toString(16)}`);
        }
      }
      const longest = `L${Date.now().toString(36)}`.padEnd(39, 'z');
      const made = await fx.acquire(await fx.qualified(longest, A.label), CRYPT_NEWKEYSET | CRYPT_SILENT);
      assert.equal(made.context.container?.name, longest);
      assert.equal((await fx.acquire(longest)).context.container?.index, made.context.container?.index);
    });

    it('a container on a removed card: silent → NTE_BAD_KEYSET without asking; with a UI the person is asked for the card', async () => {
      const name = fx.uniqueName();
      await fx.newContainer(name, B.label);
      await fx.remove(B.label);
      const ui = useScriptedUi();
      await expectCryptError(() => acquire(name, CRYPT_SILENT), 'NTE_BAD_KEYSET');
      assert.equal(ui.cardRequests.length, 0, 'a silent context never asks');
      await expectCryptError(() => acquire(name), 'SCARD_W_CANCELLED_BY_USER', 'the scripted UI cancels');
      assert.equal(ui.cardRequests.length, 1);
      assert.equal(ui.cardRequests[0]!.container, name);
      assert.equal(ui.cardRequests[0]!.operation, 'open');
    });
  });

  describe('CRYPT_NEWKEYSET', () => {
    it('level I: an empty container on that card (A3), the default when it is the first; NTE_EXISTS the second time', async () => {
      const name = fx.uniqueName();
      const qualified = await fx.qualified(name, A.label);
      const prov = await fx.acquire(qualified, CRYPT_NEWKEYSET);
      assert.equal(prov.context.card, await fx.card(A.label));
      assert.equal(prov.context.container?.name, name);
      assert.equal(prov.context.verifyOnly, false);
      const onCard = await fx.onCard(name, A.label);
      assert.ok(onCard, 'the container is in the card map');
      assert.equal(onCard.sigKeyBits, 0);
      assert.equal(onCard.keyExchangeKeyBits, 0);
      assert.deepEqual(await keysOf(A.label, name), [], 'no key pair (CardGetContainerInfo)');
      await expectCryptError(() => acquire(qualified, CRYPT_NEWKEYSET), 'NTE_EXISTS');
      await expectCryptError(() => acquire(qualified, CRYPT_NEWKEYSET | CRYPT_SILENT | CRYPT_MACHINE_KEYSET), 'NTE_EXISTS');
      assert.equal((await names(A.label)).filter((n) => n === name).length, 1);
    });

    it('level III: a card holding the name is skipped (the create flow), NTE_EXISTS once every card holds it', async () => {
      await fx.remove(C.label); // C stays empty for other tests
      const name = fx.uniqueName();
      await fx.newContainer(name, A.label);
      const second = await fx.acquire(name, CRYPT_NEWKEYSET | CRYPT_SILENT);
      assert.equal(second.context.card, await fx.card(B.label), 'made on the card that lacked it');
      assert.ok((await names(B.label)).includes(name));
      await expectCryptError(() => acquire(name, CRYPT_NEWKEYSET | CRYPT_SILENT), 'NTE_EXISTS');
    });

    it('levels II and IV: a new GUID-named container; PP_CONTAINER gives its name', async () => {
      const before = await names(B.label);
      const two = await fx.acquire(await fx.qualified('', B.label), CRYPT_NEWKEYSET | CRYPT_SILENT);
      const made = two.context.container!.name;
      assert.match(made, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      const after = await names(B.label);
      assert.equal(after.length, before.length + 1);
      assert.ok(after.includes(made), 'on the card in that reader');
      assert.equal(await CryptGetProvParam(two, PP_CONTAINER), made);
      const four = await fx.acquire(null, CRYPT_NEWKEYSET | CRYPT_SILENT | CRYPT_DEFAULT_CONTAINER_OPTIONAL);
      const other = four.context.container!.name;
      assert.notEqual(other, made);
      assert.ok((await names(four.context.card!.identity.label)).includes(other));
      assert.deepEqual(await keysOf(four.context.card!.identity.label, other), []);
    });

    it('never silent: CRYPT_SILENT without a cached PIN is NTE_SILENT_CONTEXT before anything is written; with the PIN cached it works', async () => {
      await fx.logout();
      const name = fx.uniqueName();
      const qualified = await fx.qualified(name, A.label);
      const ui = useScriptedUi();
      await expectCryptError(() => acquire(qualified, CRYPT_NEWKEYSET | CRYPT_SILENT), 'NTE_SILENT_CONTEXT');
      await expectCryptError(() => acquire(name, CRYPT_NEWKEYSET | CRYPT_SILENT), 'NTE_SILENT_CONTEXT', 'level III');
      assert.equal(ui.pinRequests.length, 0);
      assert.ok(!(await names(A.label)).includes(name) && !(await names(B.label)).includes(name), 'nothing written');
      await fx.login(A.label);
      await fx.acquire(qualified, CRYPT_NEWKEYSET | CRYPT_SILENT);
      assert.ok((await names(A.label)).includes(name));
    });

    it('non-silent without a cached PIN: with no UI NTE_SILENT_CONTEXT; with a UI the PIN is asked once and then cached', async () => {
      await fx.logout();
      const name = fx.uniqueName();
      const qualified = await fx.qualified(name, A.label);
      await expectCryptError(() => acquire(qualified, CRYPT_NEWKEYSET), 'NTE_SILENT_CONTEXT', 'no UI registered and no terminal');
      assert.ok(!(await names(A.label)).includes(name));
      const ui = useScriptedUi();
      ui.pins = [A.pin];
      await fx.acquire(qualified, CRYPT_NEWKEYSET);
      assert.equal(ui.pinRequests.length, 1);
      assert.equal(ui.pinRequests[0]!.container, name);
      const card = await fx.card(A.label);
      assert.ok(fx.service.pins.has(pinCacheCard(card), ROLE_USER), 'the PIN is cached');
      await fx.acquire(await fx.qualified(fx.uniqueName(), A.label), CRYPT_NEWKEYSET | CRYPT_SILENT);
      assert.equal(ui.pinRequests.length, 1, 'not asked again');
    });

    it('CRYPT_MACHINE_KEYSET and CRYPT_DEFAULT_CONTAINER_OPTIONAL combine with it', async () => {
      const name = fx.uniqueName();
      const prov = await fx.acquire(await fx.qualified(name, B.label), CRYPT_NEWKEYSET | CRYPT_MACHINE_KEYSET | CRYPT_DEFAULT_CONTAINER_OPTIONAL | CRYPT_SILENT);
      assert.equal(prov.context.machine, true);
      assert.equal(await CryptGetProvParam(prov, PP_KEYSET_TYPE), CRYPT_MACHINE_KEYSET);
      assert.ok((await names(B.label)).includes(name));
    });
  });

  describe('CRYPT_DELETEKEYSET (A6)', () => {
    it('level I: deletes the container and resolves to null; opening or deleting it again is NTE_BAD_KEYSET', async () => {
      const name = fx.uniqueName();
      const qualified = await fx.qualified(name, A.label);
      await fx.newContainer(name, A.label);
      const result: null = await CryptAcquireContext(qualified, MS_SCARD_PROV, PROV_RSA_FULL, CRYPT_DELETEKEYSET);
      assert.equal(result, null);
      assert.ok(!(await names(A.label)).includes(name), 'gone from the card');
      await expectCryptError(() => acquire(qualified), 'NTE_BAD_KEYSET');
      await expectCryptError(() => acquire(qualified, CRYPT_DELETEKEYSET), 'NTE_BAD_KEYSET');
      await expectCryptError(() => acquire(fx.uniqueName(), CRYPT_DELETEKEYSET | CRYPT_SILENT), 'NTE_BAD_KEYSET', 'level III, missing');
    });

    it('level III, and with CRYPT_MACHINE_KEYSET', async () => {
      const name = fx.uniqueName();
      await fx.newContainer(name, B.label);
      assert.equal(await acquire(name, CRYPT_DELETEKEYSET | CRYPT_MACHINE_KEYSET | CRYPT_SILENT), null);
      assert.ok(!(await names(B.label)).includes(name));
    });

    it('level II deletes the card\'s default container, and another container becomes the default', async () => {
      await fx.newContainer(fx.uniqueName(), B.label);
      const card = await fx.card(B.label);
      const before = (await card.defaultContainer(true))!;
      assert.equal(await acquire(await fx.qualified('', B.label), CRYPT_DELETEKEYSET), null);
      assert.ok(!(await names(B.label)).includes(before.name));
      const after = await card.defaultContainer(true);
      assert.ok(after && after.name !== before.name, 'a new default');
    });

    it('without a cached PIN: silent → NTE_SILENT_CONTEXT and the container stays; with a UI the PIN is asked', async () => {
      const name = fx.uniqueName();
      await fx.newContainer(name, A.label);
      await fx.logout();
      await expectCryptError(() => acquire(name, CRYPT_DELETEKEYSET | CRYPT_SILENT), 'NTE_SILENT_CONTEXT');
      assert.ok((await names(A.label)).includes(name));
      const ui = useScriptedUi();
      ui.pins = [A.pin];
      assert.equal(await acquire(name, CRYPT_DELETEKEYSET), null);
      assert.equal(ui.pinRequests.length, 1);
      assert.ok(!(await names(A.label)).includes(name));
    });
  });

  describe('CRYPT_VERIFYCONTEXT (A4)', () => {
    it('null name: no card is bound and no UI asked at acquire; a card parameter binds the first card present, for good', async () => {
      const ui = useScriptedUi();
      const prov = await fx.acquire(null, CRYPT_VERIFYCONTEXT);
      const { context } = prov;
      assert.equal(context.card, undefined);
      assert.equal(context.container, undefined);
      assert.equal(await CryptGetProvParam(prov, PP_KEYSPEC), 3, 'PP_KEYSPEC still 3');
      assert.equal(await CryptGetProvParam(prov, PP_CONTAINER), '');
      const reader = await CryptGetProvParam(prov, PP_SMARTCARD_READER);
      const bound = prov.context.card as SmartCard | undefined;
      assert.ok(bound, 'bound now');
      assert.equal(reader, bound.szReader);
      assert.equal(prov.context.container, undefined, 'still no key container');
      assert.equal(await CryptGetProvParam(prov, PP_SMARTCARD_READER), reader, 'the same card every time');
      assert.equal(ui.cardRequests.length + ui.pinRequests.length, 0);
    });

    it('null name with no card present: the context is made; card parameters are SCARD_E_NO_SMARTCARD', async () => {
      for (const t of [A, B, C]) await fx.remove(t.label);
      const ui = useScriptedUi();
      const prov = await fx.acquire(null, CRYPT_VERIFYCONTEXT);
      await expectCryptError(() => CryptGetProvParam(prov, PP_SMARTCARD_READER), 'SCARD_E_NO_SMARTCARD');
      assert.equal(ui.cardRequests.length, 0, 'never a UI for a null-name verify context');
      assert.equal((await CryptGenRandom(prov, 16)).length, 16, 'card-free work goes on');
    });

    it('with a container name: its public data, no PIN ever; private work NTE_PERM', async () => {
      const name = fx.uniqueName();
      await fx.newContainer(name, A.label);
      await fx.logout();
      const ui = useScriptedUi();
      for (const spec of [await fx.qualified(name, A.label), name]) {
        const prov = await fx.acquire(spec, CRYPT_VERIFYCONTEXT);
        assert.equal(prov.context.verifyOnly, true);
        assert.equal(prov.context.container?.name, name, spec);
        assert.equal(prov.context.card, await fx.card(A.label));
        await expectCryptError(() => onCard(prov, prov.context.card!, 'test', true, async () => 1), 'NTE_PERM');
      }
      assert.equal(ui.pinRequests.length, 0, 'no PIN prompt');
      const missing = await fx.qualified(fx.uniqueName(), A.label);
      await expectCryptError(() => acquire(missing, CRYPT_VERIFYCONTEXT | CRYPT_SILENT), 'NTE_BAD_KEYSET', 'a missing container');
      await expectCryptError(() => acquire(fx.uniqueName(), CRYPT_VERIFYCONTEXT | CRYPT_SILENT), 'NTE_BAD_KEYSET');
    });

    it('a reader alone: that card, even when it has no container', async () => {
      const prov = await fx.acquire(await fx.qualified('', C.label), CRYPT_VERIFYCONTEXT | CRYPT_SILENT);
      assert.equal(prov.context.card, await fx.card(C.label));
      assert.equal(prov.context.container, undefined);
      const withDefault = await fx.acquire(await fx.qualified('', A.label), CRYPT_VERIFYCONTEXT);
      assert.equal(withDefault.context.container?.name, (await (await fx.card(A.label)).defaultContainer(true))!.name);
    });
  });

  describe('CRYPT_MACHINE_KEYSET (no cached data)', () => {
    it('every acquire reads the container map from the card; without the flag a warm acquire reads none', async () => {
      const name = fx.uniqueName();
      await fx.newContainer(name, A.label);
      const card = await fx.card(A.label);
      const module = card.module;
      const original = module.CardReadFile;
      let mapReads = 0;
      module.CardReadFile = function (this: typeof module, dir: string | null, file: string, flags?: number) {
        if (file === 'cmapfile') mapReads++;
        return original.call(this, dir, file, flags);
      } as typeof original;
      try {
        await fx.acquire(name); // warms the cache
        mapReads = 0;
        await fx.acquire(name);
        assert.equal(mapReads, 0, 'warm: the cached map');
        const machine = await fx.acquire(name, CRYPT_MACHINE_KEYSET);
        assert.ok(mapReads >= 1, 'CRYPT_MACHINE_KEYSET: read from the card');
        assert.equal(await CryptGetProvParam(machine, PP_KEYSET_TYPE), CRYPT_MACHINE_KEYSET);
      } finally {
        delete (module as { CardReadFile?: unknown }).CardReadFile;
        if (module.CardReadFile !== original) module.CardReadFile = original;
      }
      assert.equal(await CryptGetProvParam(await fx.acquire(name), PP_KEYSET_TYPE), 0);
    });
  });

  describe('CryptReleaseContext (R1, C1)', () => {
    it('releases once; a second release, null, 0, foreign objects and key handles are ERROR_INVALID_PARAMETER', async () => {
      const prov = await fx.acquire(null, CRYPT_VERIFYCONTEXT);
      await CryptReleaseContext(prov);
      assert.equal(prov.released, true);
      await expectCryptError(() => CryptReleaseContext(prov), 'ERROR_INVALID_PARAMETER', 'second release');
      await expectCryptError(() => CryptGetProvParam(prov, PP_NAME), 'ERROR_INVALID_PARAMETER', 'use after release');
      await expectCryptError(() => CryptGenRandom(prov, 8), 'ERROR_INVALID_PARAMETER', 'CryptGenRandom after release (WAT)');
      for (const bad of [null, undefined, 0, {}, { kind: 'prov' }]) {
        await expectCryptError(() => CryptReleaseContext(bad as never), 'ERROR_INVALID_PARAMETER', String(bad));
      }
      const live = await fx.acquire(null, CRYPT_VERIFYCONTEXT);
      const key = new HCRYPTKEY(live, { kind: 'public', algId: 0xa400, bits: 1024, publicKey: undefined as never });
      await expectCryptError(() => CryptReleaseContext(key as never), 'ERROR_INVALID_PARAMETER', 'a key handle');
      assert.equal(live.released, false);
    });

    it('non-zero flags: NTE_BAD_FLAGS, and the context is released anyway', async () => {
      const prov = await fx.acquire(null, CRYPT_VERIFYCONTEXT);
      await expectCryptError(() => CryptReleaseContext(prov, 1), 'NTE_BAD_FLAGS');
      assert.equal(prov.released, true);
      await expectCryptError(() => CryptReleaseContext(prov), 'ERROR_INVALID_PARAMETER');
      const other = await fx.acquire(null, CRYPT_VERIFYCONTEXT);
      await expectCryptError(() => CryptReleaseContext(other, 'x' as never), 'NTE_BAD_FLAGS');
      assert.equal(other.released, true);
    });

    it('keys and hashes die with the context; session keys are wiped at release', async () => {
      const prov = await fx.acquire(null, CRYPT_VERIFYCONTEXT);
      let destroyed = 0;
      const session = { destroy: () => { destroyed++; } } as unknown as SessionKey;
      const key = new HCRYPTKEY(prov, { kind: 'session', session });
      const hash = new HCRYPTHASH(prov, {} as HashState);
      await CryptReleaseContext(prov);
      assert.equal(destroyed, 1, 'the session key was destroyed');
      assert.equal(prov.children.size, 0);
      assert.throws(() => useHandle(key, 'key', 'test'), (err: Error & { codeName?: string }) => err.codeName === 'ERROR_INVALID_PARAMETER');
      assert.throws(() => useHandle(hash, 'hash', 'test'), (err: Error & { codeName?: string }) => err.codeName === 'ERROR_INVALID_PARAMETER');
    });
  });

  describe('CryptGenRandom', () => {
    it('gives the length asked, different every time; 0 gives nothing', async () => {
      const prov = await fx.acquire(null, CRYPT_VERIFYCONTEXT);
      for (const n of [0, 1, 16, 1000, 65_537]) assert.equal((await CryptGenRandom(prov, n)).length, n);
      const [x, y] = [await CryptGenRandom(prov, 32), await CryptGenRandom(prov, 32)];
      assert.ok(Buffer.isBuffer(x));
      assert.notDeepEqual(x, y);
    });

    it('lengths that are no byte count are ERROR_INVALID_PARAMETER; a wrong handle too', async () => {
      const prov = await fx.acquire(null, CRYPT_VERIFYCONTEXT);
      for (const n of [-1, 1.5, Number.NaN, Infinity, 2 ** 32, '8' as never, null as never, undefined as never]) {
        await expectCryptError(() => CryptGenRandom(prov, n), 'ERROR_INVALID_PARAMETER', String(n));
      }
      await expectCryptError(() => CryptGenRandom(null as never, 8), 'ERROR_INVALID_PARAMETER');
      await expectCryptError(() => CryptGenRandom({} as never, 8), 'ERROR_INVALID_PARAMETER');
    });
  });
});
