/**
 * The real smart card path, as a suite's fixture: the emulated CAC card rig (../rigs/virtual-card.ts:
 * a private pcscd + vpcd + libcacard, reached through OpenSC's PKCS#11 module) behind a smart card
 * service built the way the package builds it (createSmartCardService over a provider registry in a
 * home of the suite's own), installed as the process's default service — what
 * NCryptOpenStorageProvider and CryptAcquireContext use.
 *
 * The registry holds, in install order:
 *   1. "OpenSC tokens"          OpenSC, no criteria (claims every token OpenSC lists)
 *   2. "CAC family - ATR mask"  OpenSC, the card's ATR under a mask that ignores the historical bytes
 *   3. "CAC by ATR"             OpenSC, the card's exact ATR
 *   4. "Other card by ATR"      OpenSC, another ATR, priority 10
 * so the card is claimed by 1–3 and served by 3, the most recently installed match; 4 outranks all
 * of them by priority but does not match. The ATR the service sees is read by the PKCS#11 bridge from
 * pcscd (pkcs11-bridge/pcsc-status.ts), not taken from the rig.
 *
 * Constraints (the rig's, see test/rigs/README.md):
 *  - One rig per process at a time: libpcsclite reads PCSCLITE_CSOCK_NAME once per process, so every
 *    rig of a process uses the same socket path. Suites start it in a top-level describe's before()
 *    and stop it in after(); another suite (the rig's self-test) may start its own afterwards.
 *  - OpenSC is loaded after the rig has started: the service loads its drivers lazily, at first use.
 *    OpenSC must be finalised before the rig stops: the after() hook closes the service (the driver
 *    releases the module: C_Finalize) and checks no reference to the module is left.
 *  - Root (CAP_SYS_ADMIN) is needed: pcscd runs in its own mount and network namespaces.
 *  - The card's PIN (card.pin) is random per run and never appears in a log or a message.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSmartCardService } from '../../default-service.js';
import { moduleReferences } from '../../pkcs11-bridge/index.js';
import { acquireModule, type LoadedModule, releaseModule } from '../../pkcs11-bridge/module-registry.js';
import { setDefaultSmartCardService } from '../../smartcard/default-service.js';
import { type Registration, RegistryStore } from '../../smartcard/registry/index.js';
import type { SmartCardService } from '../../smartcard/service.js';
import { setUserInterface } from '../../smartcard/ui.js';
import { OPENSC_MODULE, startVirtualCard, type VirtualCard, type VirtualCardOptions } from '../rigs/index.js';
import { ScriptedUi } from '../smartcard/service-helpers.js';
import { countPkcs11Calls } from '../support/call-counter.js';

export const ATR_REGISTRATION = 'CAC by ATR';
export const MASKED_ATR_REGISTRATION = 'CAC family - ATR mask';
export const ANY_TOKEN_REGISTRATION = 'OpenSC tokens';
export const OTHER_ATR_REGISTRATION = 'Other card by ATR';

export interface RealCardFixture {
  /** The rig (started in the fixture's before hook). */
  card: VirtualCard;
  /** The default smart card service over it. */
  service: SmartCardService;
  /** The registrations as the store wrote them (install time and sequence included). */
  registrations: Registration[];
  /** The service's name of the card's reader. */
  reader: string;
  /** A scripted UI, installed for one test (removed after each). */
  useUi(): ScriptedUi;
  /**
   * PKCS#11 calls reaching OpenSC while `action` runs, by PKCS#11 function (pkcs11js's asynchronous
   * forms count as their function): the module instance the service's driver loaded (one per process
   * and path) is wrapped in counting pass-throughs meanwhile.
   */
  countCalls(action: () => Promise<void>): Promise<Record<string, number>>;
}

/** The ATR with its historical bytes masked out (T0's low nibble says how many there are). */
function historicalBytesMask(atrHex: string): string {
  const atr = Buffer.from(atrHex, 'hex');
  const historical = atr[1]! & 0x0f;
  const mask = Buffer.alloc(atr.length, 0xff);
  mask.fill(0, atr.length - historical);
  return mask.toString('hex');
}

/** Another card's ATR: the same length, one historical byte different. */
function otherAtr(atrHex: string): string {
  const atr = Buffer.from(atrHex, 'hex');
  atr[atr.length - 1] ^= 0x01;
  return atr.toString('hex');
}

/**
 * Call inside the test file's top-level describe: its before() starts the rig and installs the
 * service, its after() takes both down (hooks at module level would be root hooks of the whole run).
 */
export function realCardFixture(options: VirtualCardOptions = {}): RealCardFixture {
  let home: string | undefined;
  let module: LoadedModule | undefined;
  let ui: ScriptedUi | undefined;
  const fixture: RealCardFixture = {
    card: undefined as unknown as VirtualCard,
    service: undefined as unknown as SmartCardService,
    registrations: [],
    reader: '',
    useUi() {
      ui = new ScriptedUi();
      setUserInterface(ui);
      return ui;
    },
    async countCalls(action) {
      module ??= acquireModule(OPENSC_MODULE); // the driver's instance: the service has loaded it by now
      return countPkcs11Calls(module, action);
    },
  };

  before(async function () {
    this.timeout(120_000);
    fixture.card = await startVirtualCard({ maxTries: 3, ...options });
    home = mkdtempSync(join(tmpdir(), 'p11ksp-real-card-'));
    const store = new RegistryStore(home);
    const atr = fixture.card.atr.toLowerCase();
    fixture.registrations = [
      await store.add({ name: ANY_TOKEN_REGISTRATION, kind: 'minidriver', module: OPENSC_MODULE, match: {} }),
      await store.add({ name: MASKED_ATR_REGISTRATION, kind: 'minidriver', module: OPENSC_MODULE, match: { atr, atrMask: historicalBytesMask(atr) } }),
      await store.add({ name: ATR_REGISTRATION, kind: 'minidriver', module: OPENSC_MODULE, match: { atr } }),
      await store.add({ name: OTHER_ATR_REGISTRATION, kind: 'minidriver', module: OPENSC_MODULE, match: { atr: otherAtr(atr) }, priority: 10 }),
    ];
    // What the package's entry point does, from the registry on disk; no global cache (a read-only
    // card gets none anyway, and the suite must leave nothing behind).
    fixture.service = await createSmartCardService({ home, globalCache: false });
    await setDefaultSmartCardService(fixture.service);
    const entry = (await fixture.service.snapshot()).find((e) => e.card?.label === fixture.card.label);
    assert.ok(entry, `the service lists the card "${fixture.card.label}" (rig log:\n${fixture.card.log})`);
    fixture.reader = entry.szReader;
  });

  afterEach(() => {
    setUserInterface(null);
    ui = undefined;
  });

  after(async function () {
    this.timeout(60_000);
    setUserInterface(null);
    if (module) releaseModule(module);
    module = undefined;
    // Closes the service: its driver releases OpenSC (C_Finalize) before the rig's pcscd goes.
    await setDefaultSmartCardService(null);
    await fixture.card?.stop();
    if (home) rmSync(home, { recursive: true, force: true });
    assert.equal(moduleReferences(OPENSC_MODULE), 0, 'the suite left OpenSC loaded');
  });

  return fixture;
}
