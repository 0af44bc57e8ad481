/**
 * Opens what the suite runs against: a SmartCardService that sees exactly one card, installed as the
 * process's default service for the run (the CNG and CryptoAPI areas call NCrypt* / Crypt*, which reach
 * cards only through the default service).
 *
 * Why one card only: a user's machine may hold other cards and tokens. The front ends pick cards by
 * their own rules (default container, first card with the container...), so the only way to be sure a
 * case touches the target and nothing else is a driver that shows no other reader. The driver is a
 * real Pkcs11Minidriver whose reader list is narrowed; everything else is the module's own.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { EMBEDDED_REGISTRATION_NAME } from '../default-service.js';
import { prepareHome, resolveHome } from '../home.js';
import type { CardMinidriver, CardReaderState } from '../minidriver/card-module.js';
import { CryptError } from '../minidriver/errors.js';
import { Pkcs11Minidriver } from '../pkcs11-bridge/index.js';
import { borrowDefaultSmartCardService } from '../smartcard/default-service.js';
import type { ReaderEntry } from '../smartcard/readers/reader-list.js';
import { matchesReader, type Registration, RegistryStore } from '../smartcard/registry/index.js';
import { SmartCardService } from '../smartcard/service.js';
import type { ConformanceTarget, TargetIdentity } from './case.js';

/** The target, open for one run. close() restores the process's default service and frees everything. */
export interface OpenTarget extends AsyncDisposable {
  readonly identity: TargetIdentity;
  readonly service: SmartCardService;
  /** The PKCS#11 module serving the card (the probe reads its mechanism list). */
  readonly modulePath: string;
  /** The target's reader entry now (throws SCARD_E_NO_SMARTCARD when the card has left). */
  entry(): Promise<ReaderEntry>;
  close(): Promise<void>;
}

type CardIdentity = NonNullable<CardReaderState['card']>;

/** Decides, per reader state, whether it is the target's; remembers every label seen for the error message. */
interface ReaderFilter {
  accepts(reader: CardReaderState): boolean;
  seen: Set<string>;
}

/**
 * A driver over the real module that lists only the readers the filter accepts. The first accepted card
 * pins the filter to that card's identity, so a second matching card inserted mid-run stays invisible.
 */
function narrowedDriver(modulePath: string, filter: ReaderFilter): CardMinidriver & { close(): Promise<void> } {
  const driver = new Pkcs11Minidriver({ modulePath });
  let pinned: CardIdentity | undefined;
  return {
    name: driver.name,
    async listReaders() {
      const readers = await driver.listReaders();
      for (const r of readers) if (r.card) filter.seen.add(r.card.label);
      const shown = readers.filter((r) => {
        if (!r.card) return false;
        if (pinned) return r.card.label === pinned.label && r.card.serial === pinned.serial;
        return filter.accepts(r);
      });
      pinned ??= shown[0]?.card;
      return shown.slice(0, 1);
    },
    CardAcquireContext: (...args) => driver.CardAcquireContext(...args),
    releaseCard: (card) => driver.releaseCard(card),
    close: () => driver.close(),
  };
}

function seenList(seen: Set<string>): string {
  return seen.size ? `the tokens seen are: ${[...seen].map((l) => `"${l}"`).join(', ')}` : 'the module shows no initialised token';
}

/** The registration for a --module target: criteria-less, so it claims the card the narrowed driver shows. */
function moduleRegistration(modulePath: string): Registration {
  return { name: 'conformance-target', kind: 'minidriver', module: modulePath, match: {}, installedAt: new Date(0).toISOString(), installSequence: 0, priority: 0 };
}

async function providerRegistration(name: string): Promise<Registration> {
  const operation = 'conformance';
  const home = resolveHome();
  const listed = await new RegistryStore(home).list();
  const found = listed.registrations.find((r) => r.name === name);
  if (found) return found;
  // With nothing registered the embedded SoftHSM2 store serves (default-service.ts): it is a provider too.
  if (name === EMBEDDED_REGISTRATION_NAME && listed.registrations.length === 0) {
    const store = prepareHome({ ...process.env, P11KSP_HOME: home });
    return { ...moduleRegistration(store.modulePath), name };
  }
  const names = listed.registrations.map((r) => `"${r.name}"`).join(', ');
  throw new CryptError('NTE_NOT_FOUND', `no provider "${name}" is registered in ${home}; ${names ? `registered: ${names}` : 'none is registered (p11-ksp provider add)'}`, { operation });
}

function validateModuleTarget(target: Extract<ConformanceTarget, { kind: 'module' }>): void {
  const operation = 'conformance';
  if (typeof target.module !== 'string' || target.module.length === 0) {
    throw new CryptError('NTE_INVALID_PARAMETER', 'give the PKCS#11 module path of the token to test', { operation });
  }
  if ((target.tokenLabel === undefined) === (target.tokenSerial === undefined)) {
    throw new CryptError('NTE_INVALID_PARAMETER', 'name the token by exactly one of its label or its serial number (not both, not neither)', { operation });
  }
  if (!existsSync(target.module)) {
    throw new CryptError('NTE_NOT_FOUND', `the PKCS#11 module ${target.module} does not exist; check the path`, { operation });
  }
}

/**
 * Opens the target and installs its service as the process's default service. Throws CryptError when
 * the target cannot be opened (nothing is left installed then).
 */
export async function openTarget(target: ConformanceTarget): Promise<OpenTarget> {
  const operation = 'conformance';
  let registration: Registration;
  let filter: ReaderFilter;
  let describe: string;
  if (target.kind === 'module') {
    validateModuleTarget(target);
    registration = moduleRegistration(target.module);
    filter = {
      seen: new Set(),
      accepts: (r) => (target.tokenLabel !== undefined ? r.card!.label === target.tokenLabel : r.card!.serial === target.tokenSerial),
    };
    describe = target.tokenLabel !== undefined ? `no token labelled "${target.tokenLabel}"` : `no token with serial "${target.tokenSerial}"`;
  } else if (target.kind === 'provider') {
    registration = await providerRegistration(target.provider);
    if (registration.kind !== 'minidriver' || !registration.module) {
      throw new CryptError('NTE_NOT_SUPPORTED', `provider "${registration.name}" is a ${registration.kind} registration; the suite tests minidriver (PKCS#11 module) registrations`, { operation });
    }
    const reg = registration;
    filter = { seen: new Set(), accepts: (r) => matchesReader(reg, r, { module: reg.module }) };
    describe = `no card that provider "${registration.name}" serves is present`;
  } else {
    throw new CryptError('NTE_INVALID_PARAMETER', `unknown target kind ${JSON.stringify((target as { kind?: unknown }).kind)}; use "module" or "provider"`, { operation });
  }
  const modulePath = registration.module!;
  const service = new SmartCardService({
    registrations: [registration],
    driverFactory: (path) => narrowedDriver(path, filter),
    globalCache: null,
    lockFolder: target.kind === 'provider' ? join(resolveHome(), 'locks') : null,
  });

  const entry = async (): Promise<ReaderEntry> => {
    const found = (await service.snapshot()).find((e) => e.card);
    if (!found) throw new CryptError('SCARD_E_NO_SMARTCARD', `${describe} in ${modulePath}; ${seenList(filter.seen)}`, { operation });
    return found;
  };

  let first: ReaderEntry;
  try {
    first = await entry();
  } catch (err) {
    await service.close().catch(() => undefined);
    throw err;
  }
  const card = first.card!;
  const identity: TargetIdentity = {
    kind: target.kind,
    source: target.kind === 'module' ? target.module : target.provider,
    label: card.label, serial: card.serial, manufacturer: card.manufacturer, model: card.model,
    reader: first.szReader,
  };

  // The front ends reach the target through the process's default service: it is lent to ours for
  // the run, and the application's own (if it had one) comes back untouched in close().
  const giveBack = borrowDefaultSmartCardService(service);
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    giveBack();
    await service.close().catch(() => undefined);
  };
  return { identity, service, modulePath, entry, close, [Symbol.asyncDispose]: close };
}
