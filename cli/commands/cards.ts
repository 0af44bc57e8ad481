/**
 * `p11-ksp cards [--module PATH] [--reader NAME] [--json]`: every card present, as certutil -scinfo's
 * header shows one: reader, ATR, token identity, card GUID, the registration serving it, container
 * room, read-only, PIN facts.
 *
 * Read-only and PIN-free: opening a card context reads its files (and on a fresh token creates them,
 * as any first use would), nothing more. PIN tries left are shown only when the card tells without a
 * PIN attempt; PKCS#11 tokens tell only after a wrong one, so this is usually null ("unknown").
 */
import { CARD_DATA_VALUE_UNKNOWN, PinCacheAlwaysPrompt, PinCacheNone, PinCacheNormal, PinCacheTimed, ROLE_USER } from '../../minidriver/constants.js';
import { CryptError } from '../../minidriver/errors.js';
import type { ReaderEntry } from '../../smartcard/readers/reader-list.js';
import type { SmartCardService } from '../../smartcard/service.js';
import { openService, type ServiceOptions } from '../card-service.js';
import type { CardJson, CardsDocument } from '../json-schema.js';
import type { Output } from '../output.js';

export interface CardsOptions extends ServiceOptions {
  reader?: string;
  json?: boolean;
}

const CACHE_POLICIES: ReadonlyMap<number, string> = new Map([
  [PinCacheNormal, 'normal'],
  [PinCacheTimed, 'timed'],
  [PinCacheNone, 'none'],
  [PinCacheAlwaysPrompt, 'always-prompt'],
]);

async function describeCard(service: SmartCardService, entry: ReaderEntry & { card: NonNullable<ReaderEntry['card']> }): Promise<CardJson> {
  const card = await service.cardIn(entry);
  const space = await card.freeSpace();
  const pin = await card.pinInfo(ROLE_USER);
  return {
    reader: entry.szReader,
    atr: entry.atr ? entry.atr.toString('hex') : null,
    label: entry.card.label,
    serial: entry.card.serial,
    manufacturer: entry.card.manufacturer,
    model: entry.card.model,
    cardGuid: card.guidString,
    registration: entry.provider ?? '',
    containers: { free: space.dwKeyContainersAvailable, max: space.dwMaxKeyContainers },
    readOnly: card.readOnly,
    // PIN_INFO carries no retry counter; the minidriver contract reports tries only with a failure.
    pin: { triesLeft: null, cachePolicy: CACHE_POLICIES.get(pin.PinCachePolicy.PinCachePolicyType) ?? `type ${pin.PinCachePolicy.PinCachePolicyType}` },
  };
}

function count(n: number): string {
  return n === CARD_DATA_VALUE_UNKNOWN ? 'unknown' : String(n);
}

function printCard(c: CardJson, out: Output): void {
  out.line(`Reader: ${c.reader}`);
  out.line(`  ATR:            ${c.atr ? c.atr.match(/../g)!.join(' ') : '(none: the reader reports no ATR)'}`);
  out.line(`  Card:           "${c.label}"  serial ${c.serial}`);
  out.line(`  Manufacturer:   ${c.manufacturer} / ${c.model}`);
  out.line(`  Card GUID:      {${c.cardGuid}}`);
  out.line(`  Served by:      ${c.registration}`);
  out.line(`  Containers:     ${count(c.containers.free)} free of ${count(c.containers.max)}`);
  out.line(`  Read-only:      ${c.readOnly ? 'yes' : 'no'}`);
  out.line(`  User PIN:       tries left ${c.pin.triesLeft ?? 'unknown'}, cache policy ${c.pin.cachePolicy}`);
}

export async function cardsCommand(options: CardsOptions, out: Output): Promise<void> {
  const { service, close } = await openService(options, out);
  const doc: CardsDocument = { schema: 'p11-ksp/cards/v1', cards: [], emptyReaders: [] };
  try {
    const entries = (await service.snapshot()).filter((e) => options.reader === undefined || e.szReader === options.reader);
    if (options.reader !== undefined && entries.length === 0) {
      throw new CryptError('SCARD_E_UNKNOWN_READER', `no reader named "${options.reader}"; \`p11-ksp readers\` lists them`, { operation: 'p11-ksp cards' });
    }
    if (options.reader !== undefined && !entries.some((e) => e.card)) {
      throw new CryptError('SCARD_E_NO_SMARTCARD', `no card served in "${options.reader}"; insert one (or register its type with p11-ksp provider add)`, { operation: 'p11-ksp cards' });
    }
    for (const entry of entries) {
      if (entry.card) doc.cards.push(await describeCard(service, entry as ReaderEntry & { card: NonNullable<ReaderEntry['card']> }));
      else doc.emptyReaders.push(entry.szReader);
    }
  } finally {
    await close();
  }
  if (options.json) {
    out.document(doc);
    return;
  }
  if (doc.cards.length === 0) out.line('No card present.');
  doc.cards.forEach((c, i) => {
    if (i > 0) out.line();
    printCard(c, out);
  });
  if (doc.emptyReaders.length > 0) out.line(`\nReaders with no card served: ${doc.emptyReaders.join(', ')}`);
}
