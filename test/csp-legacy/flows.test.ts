/**
 * The two application flows of issue #5, end to end on SoftHSM2 cards, through the CryptoAPI calls an
 * application makes:
 *
 *  1. Create a container silently (the smart card architecture's "Create a new container in silent
 *     context"): acquire the reader (level II) with CRYPT_DEFAULT_CONTAINER_OPTIONAL, set
 *     PP_KEYEXCHANGE_PIN, release, acquire the level I name with CRYPT_NEWKEYSET, CryptGenKey.
 *  2. Open silently and fall back (the classic smart card encryption walk-through): acquire with
 *     CRYPT_SILENT | CRYPT_MACHINE_KEYSET; on NTE_BAD_KEYSET create with CRYPT_NEWKEYSET; a silent
 *     context cannot get the PIN (NTE_SILENT_CONTEXT); reopened non-silently the UI is asked once and
 *     the PIN is then cached.
 *
 * The card is asked what happened at each step (its container map, container info, PIN state).
 */
import assert from 'node:assert/strict';
import { onCard } from '../../csp-legacy/card-access.js';
import { CryptAcquireContext, CryptReleaseContext } from '../../csp-legacy/context.js';
import {
  CRYPT_DEFAULT_CONTAINER_OPTIONAL, CRYPT_MACHINE_KEYSET, CRYPT_NEWKEYSET, CRYPT_SILENT, MS_SCARD_PROV, PP_CONTAINER, PP_KEYEXCHANGE_PIN,
  PP_UNIQUE_CONTAINER, PROV_RSA_FULL,
} from '../../csp-legacy/constants.js';
import type { HCRYPTPROV } from '../../csp-legacy/handles.js';
import { CryptGetProvParam, CryptSetProvParam } from '../../csp-legacy/prov-params.js';
import { containerKeySpecs } from '../../minidriver/codecs/index.js';
import { ROLE_USER } from '../../minidriver/constants.js';
import { CryptError } from '../../minidriver/errors.js';
import { pinCacheCard } from '../../smartcard/authentication.js';
import { expectCryptError } from '../pkcs11-bridge/helpers.js';
import type { SoftHsmToken } from '../rigs/index.js';
import { useScriptedUi } from '../smartcard/service-helpers.js';
import { type CspFixture, cspFixture } from './fixture.js';

let fx: CspFixture;
let A: SoftHsmToken;

/** Private-key card work through a context (what CryptSignHash / CryptDecrypt do): needs the PIN. */
function privateWork(prov: HCRYPTPROV): Promise<boolean> {
  const card = prov.context.card!;
  return onCard(prov, card, 'private work', true, () => card.isAuthenticated(ROLE_USER));
}

describe('csp-legacy: application flows', function () {
  fx = cspFixture('csp-flows', 2);
  [A] = fx.tokens as [SoftHsmToken];

  afterEach(async () => {
    await fx.login();
  });

  it('flow 1: a container created silently, the PIN given through PP_KEYEXCHANGE_PIN on a reader context', async () => {
    await fx.logout(); // nothing cached: only the PIN the application sets may be used
    const ui = useScriptedUi(); // present, so that any prompt would be seen (and fail the test)
    const card = await fx.card(A.label);
    const name = fx.uniqueName();
    const readerName = await fx.qualified('', A.label);
    const containerName = await fx.qualified(name, A.label);

    // Without the PIN step, a silent creation is refused and nothing is written.
    await expectCryptError(() => CryptAcquireContext(containerName, MS_SCARD_PROV, PROV_RSA_FULL, CRYPT_NEWKEYSET | CRYPT_SILENT), 'NTE_SILENT_CONTEXT');
    assert.equal(await fx.onCard(name, A.label), undefined);

    // 1. The reader (type II), no container needed.
    const reader = await CryptAcquireContext(readerName, MS_SCARD_PROV, PROV_RSA_FULL, CRYPT_DEFAULT_CONTAINER_OPTIONAL | CRYPT_SILENT);
    assert.equal(reader.context.card, card);
    // 2. The PIN, NUL-terminated ASCII, as a C program passes it.
    await CryptSetProvParam(reader, PP_KEYEXCHANGE_PIN, Buffer.from(`${A.pin}\0`, 'ascii'));
    assert.ok(fx.service.pins.has(pinCacheCard(card), ROLE_USER), 'cached for the process');
    // 3. Release.
    await CryptReleaseContext(reader);
    // 4. The container (type I), created silently.
    const prov = await CryptAcquireContext(containerName, MS_SCARD_PROV, PROV_RSA_FULL, CRYPT_NEWKEYSET | CRYPT_SILENT);
    assert.equal(prov.context.card, card);
    assert.equal(await CryptGetProvParam(prov, PP_CONTAINER), containerName);
    assert.equal(await CryptGetProvParam(prov, PP_UNIQUE_CONTAINER), containerName);
    const made = await fx.onCard(name, A.label);
    assert.ok(made, 'the container is on the card');
    assert.deepEqual(containerKeySpecs(await card.containerInfo(made.index, true)), [], 'and holds no key yet (A3)');
    assert.equal(ui.cardRequests.length + ui.pinRequests.length, 0, 'never a prompt');

    // 5. CryptGenKey step: added when csp-legacy/keys.ts lands

    await CryptReleaseContext(prov);
  });

  it('flow 2: open silently, create on NTE_BAD_KEYSET, silent contexts cannot get the PIN, a non-silent one asks once', async () => {
    await fx.logout();
    await fx.remove(fx.tokens[1]!.label); // one card present: the scripted UI answers with its PIN
    const ui = useScriptedUi();
    const name = fx.uniqueName();

    // Silent probe: the container does not exist yet.
    let probe: CryptError | undefined;
    try {
      await CryptAcquireContext(name, MS_SCARD_PROV, PROV_RSA_FULL, CRYPT_SILENT | CRYPT_MACHINE_KEYSET);
    } catch (err) {
      probe = err as CryptError;
    }
    assert.ok(probe instanceof CryptError && probe.codeName === 'NTE_BAD_KEYSET', `the probe fails with NTE_BAD_KEYSET (${String(probe)})`);
    assert.equal(ui.cardRequests.length + ui.pinRequests.length, 0, 'the silent probe asked nothing');

    // Create, non-silently: the PIN is asked once, through the UI.
    ui.pins = [A.pin];
    const created = await CryptAcquireContext(name, MS_SCARD_PROV, PROV_RSA_FULL, CRYPT_NEWKEYSET);
    assert.equal(ui.pinRequests.length, 1);
    const card = created.context.card!;
    const made = (await card.containers(true)).find((c) => c.name === name);
    assert.ok(made, 'created on the card');
    assert.deepEqual(containerKeySpecs(await card.containerInfo(made.index, true)), []);
    await CryptReleaseContext(created);

    // Silent reopen with no PIN cached: the open works, private work does not (and asks nobody).
    fx.service.pins.drop(pinCacheCard(card)); // fx.logout() would look for the removed card too
    await card.deauthenticate(ROLE_USER);
    const silent = await CryptAcquireContext(name, MS_SCARD_PROV, PROV_RSA_FULL, CRYPT_SILENT | CRYPT_MACHINE_KEYSET);
    assert.equal(silent.context.container?.name, name);
    await expectCryptError(() => privateWork(silent), 'NTE_SILENT_CONTEXT');
    assert.equal(ui.pinRequests.length, 1, 'a silent context never prompts');
    await CryptReleaseContext(silent);

    // Non-silent reopen: the UI is asked once, then the PIN is cached.
    ui.pins = [A.pin];
    const noisy = await CryptAcquireContext(name, MS_SCARD_PROV, PROV_RSA_FULL, CRYPT_MACHINE_KEYSET);
    assert.equal(await privateWork(noisy), true);
    assert.equal(ui.pinRequests.length, 2, 'asked once');
    assert.equal(ui.pinRequests[1]!.container, name);
    assert.ok(fx.service.pins.has(pinCacheCard(card), ROLE_USER), 'cached');
    await card.deauthenticate(ROLE_USER); // the card forgets; the cache does not
    assert.equal(await privateWork(noisy), true);
    assert.equal(ui.pinRequests.length, 2, 'the cached PIN served');
    // And with the PIN cached, even a silent context now does private work.
    const again = await CryptAcquireContext(name, MS_SCARD_PROV, PROV_RSA_FULL, CRYPT_SILENT | CRYPT_MACHINE_KEYSET);
    assert.equal(await privateWork(again), true);
    assert.equal(ui.pinRequests.length, 2);
    await CryptReleaseContext(again);
    await CryptReleaseContext(noisy);
  });
});
