/**
 * Card selection: which card (and which container on it) a container name means, following the
 * Windows smart card architecture's flows ("Smart card selection" in the seed document):
 *
 *  Levels I/II (reader named) — reader match: an unknown reader fails (SCARD_E_UNKNOWN_READER); an
 *  empty reader asks for a card, and so does a reader holding a card no registration claims (silent:
 *  SCARD_E_UNKNOWN_CARD); level II takes the card's default container; open/delete of a
 *  container the card lacks asks for another card; create of a name the card holds fails (NTE_EXISTS).
 *
 *  Levels III/IV (no reader) — card match over the cards this process already uses first, each handle
 *  verified by a card operation, then the other cards present (cards no registration claims are passed
 *  by, as empty readers are), then the UI:
 *   open default: the first card with a default container;
 *   open/delete by name: the card holding it; a known card that held it but whose handle went stale
 *     is then sought by its serial, not by the name;
 *   create: skip removed cards, cards that hold the name, read-only or full cards (CardQueryFreeSpace);
 *     first fit.
 *  Several matches with a UI: the person chooses; without one: the first in reader order.
 *
 * Where the UI would be asked and cannot be (silent context, or no UI and no terminal): a missing
 * container is NTE_BAD_KEYSET, an occupied name NTE_EXISTS, full cards NTE_TOKEN_KEYSET_STORAGE_FULL,
 * read-only cards (CP_CARD_READ_ONLY: OpenSC's cards, whose module takes no data objects)
 * SCARD_E_READ_ONLY_CARD, and a missing card NTE_SILENT_CONTEXT — the codes applications already
 * branch on. A read-only card is never a candidate for create: the check comes before any PIN is
 * asked, so nobody types a PIN for a key that cannot be made, and the card prompt says why the cards
 * present will not do (full, or read-only).
 */
import { randomUUID } from 'node:crypto';
import { CARD_DATA_VALUE_UNKNOWN } from '../minidriver/constants.js';
import { CryptError } from '../minidriver/errors.js';
import type { CardContainer, SmartCard } from './card.js';
import type { ContainerSpec } from './container-spec.js';
import type { ReaderEntry } from './readers/reader-list.js';
import { type CardChoice, type CardPromptOperation, type Interaction, RESCAN_READER } from './ui.js';

export interface SelectionRequest {
  spec: ContainerSpec;
  operation: CardPromptOperation;
  interaction: Interaction;
  /** CRYPT_MACHINE_KEYSET: read the card, not the cache. */
  noCache?: boolean;
  /** CRYPT_DEFAULT_CONTAINER_OPTIONAL: levels II/IV may give a card without a container. */
  defaultOptional?: boolean;
}

export interface Selection {
  card: SmartCard;
  /** A transaction on the card is open while the caller's `inside` runs (see selectCard). */
  /** open/delete: the container found (absent only with defaultOptional). */
  container?: CardContainer;
  /** create: the name to create (given, or a new GUID for levels II/IV). */
  createName?: string;
}

/** What selection needs of the service. */
export interface SelectionHost {
  snapshot(): Promise<ReaderEntry[]>;
  /** The open card in a reader entry (reused when this process has it open already). */
  cardIn(entry: ReaderEntry): Promise<SmartCard>;
  /** Cards this process has open, most recently used first. */
  knownCards(): SmartCard[];
  /** A known card failed verification: drop it (and its PINs) as removed. */
  forget(card: SmartCard): Promise<void>;
}

/** How many times the UI is asked for a card before the search gives up. */
const MAX_CARD_PROMPTS = 10;

type Verdict = { ok: true; container?: CardContainer } | { ok: false; why: Miss };
type Miss = 'no-container' | 'no-default' | 'exists' | 'full' | 'read-only' | 'wrong-card' | 'unknown-card';

/** Decides whether a card serves the request. */
async function judge(card: SmartCard, req: SelectionRequest, createName: string | undefined, serial: string | undefined): Promise<Verdict> {
  if (serial !== undefined && card.identity.serial !== serial) return { ok: false, why: 'wrong-card' };
  const { spec, operation, noCache } = req;
  if (operation === 'create') {
    if (await card.findContainer(createName!, noCache)) return { ok: false, why: 'exists' };
    if (card.readOnly) return { ok: false, why: 'read-only' };
    const space = await card.freeSpace();
    if (space.dwKeyContainersAvailable === 0) return { ok: false, why: 'full' };
    if (space.dwKeyContainersAvailable === CARD_DATA_VALUE_UNKNOWN || space.dwKeyContainersAvailable > 0) return { ok: true };
  }
  if (spec.container !== undefined) {
    const container = await card.findContainer(spec.container, noCache);
    return container ? { ok: true, container } : { ok: false, why: 'no-container' };
  }
  const container = await card.defaultContainer(noCache);
  if (container) return { ok: true, container };
  return req.defaultOptional ? { ok: true } : { ok: false, why: 'no-default' };
}

function missError(misses: readonly Miss[], req: SelectionRequest, createName: string | undefined, where: string, operation: string): CryptError {
  const name = req.spec.container ?? createName;
  const ctx = { operation, ...(name !== undefined ? { container: name } : {}) };
  if (misses.includes('exists') && req.operation === 'create') return new CryptError('NTE_EXISTS', `${where} already holds a container "${name}"; open it, or choose another name`, ctx);
  if (misses.includes('full')) return new CryptError('NTE_TOKEN_KEYSET_STORAGE_FULL', `${where} has no room for another container; delete one first`, ctx);
  if (misses.includes('read-only')) return new CryptError('SCARD_E_READ_ONLY_CARD', `${where} is read-only; no container can be created on it`, ctx);
  if (misses.includes('no-container')) return new CryptError('NTE_BAD_KEYSET', `no container "${name}" on ${where}; check the name (NCryptEnumKeys / PP_ENUMCONTAINERS list them)`, ctx);
  if (misses.includes('no-default')) return new CryptError('NTE_BAD_KEYSET', `${where} has no default container; name the container`, ctx);
  if (misses.includes('unknown-card')) return new CryptError('SCARD_E_UNKNOWN_CARD', `${where} holds a card of a type no registration serves; register a provider for it (p11-ksp provider add) or insert another card`, ctx);
  return new CryptError('NTE_SILENT_CONTEXT', `a smart card is needed${req.spec.reader ? ` in "${req.spec.reader}"` : ''} but none ${misses.includes('wrong-card') ? 'that matches ' : ''}is present and the context cannot ask for one; insert the card`, ctx);
}

/** Why no card present can take a new container, for the card prompt. */
function createMissReason(misses: readonly Miss[]): string {
  const readOnly = misses.includes('read-only');
  const full = misses.includes('full');
  if (readOnly && !full) return 'the cards present are read-only; insert a card that can hold a new key';
  if (readOnly) return 'the cards present are full or read-only; insert a card with room for the container';
  return 'no card present has room for the container';
}

function choiceOf(card: SmartCard): CardChoice {
  return { szReader: card.szReader, card: card.identity };
}

type Found = { card: SmartCard; container?: CardContainer };

/**
 * Finds the card (and container) a request means. `inside`, when given, runs in the same card
 * transaction as the last check of the card (one cardcf reading serves both): on a warm cache an open
 * of a known container then costs one card read, the handle verification.
 */
export async function selectCard<T = Selection>(host: SelectionHost, req: SelectionRequest, operation: string, inside?: (selection: Selection) => Promise<T>): Promise<T> {
  const createName = req.operation === 'create' ? req.spec.container ?? randomUUID() : undefined;
  const finish = async (found: Found): Promise<T> => {
    const selection: Selection = { card: found.card, ...(found.container ? { container: found.container } : {}), ...(createName !== undefined ? { createName } : {}) };
    return inside ? inside(selection) : selection as T;
  };
  const warm = await knownCardMatch(host, req, createName, finish);
  if (warm.done) return warm.value;
  const found = req.spec.reader !== undefined
    ? await readerMatch(host, req, createName, operation)
    : await cardMatch(host, req, createName, operation, warm.serial, warm.misses, warm.checked);
  return found.card.transaction(() => finish(found));
}

type WarmResult<T> = { done: true; value: T } | { done: false; serial?: string; misses: Miss[]; checked: Set<SmartCard> };

/**
 * The cards this process already uses, most recent first, each verified by a card operation (the Base
 * CSP's cached SCARDHANDLEs). For a reader-qualified name only the known card in that reader counts.
 * A known card whose handle is dead is forgotten; if it held the container, its serial is what the
 * rest of the search looks for.
 */
async function knownCardMatch<T>(host: SelectionHost, req: SelectionRequest, createName: string | undefined, finish: (found: Found) => Promise<T>): Promise<WarmResult<T>> {
  let serial: string | undefined;
  const misses: Miss[] = [];
  const checked = new Set<SmartCard>();
  for (const card of host.knownCards()) {
    if (req.spec.reader !== undefined && card.szReader !== req.spec.reader) continue;
    checked.add(card);
    const outcome = await card.transaction(async (): Promise<{ alive: false } | { alive: true; verdict: Verdict; value?: T }> => {
      if (!await card.verify()) return { alive: false };
      if (serial !== undefined) return { alive: true, verdict: { ok: false, why: 'wrong-card' } };
      const verdict = await judge(card, req, createName, undefined);
      if (!verdict.ok) return { alive: true, verdict };
      return { alive: true, verdict, value: await finish({ card, ...(verdict.container ? { container: verdict.container } : {}) }) };
    });
    if (!outcome.alive) {
      // A stale handle on the card that held the container: keep looking for that card by serial.
      if (req.operation !== 'create' && req.spec.container !== undefined && card.heldContainer(req.spec.container)) serial ??= card.identity.serial;
      await host.forget(card);
      continue;
    }
    if (outcome.verdict.ok) return { done: true, value: outcome.value as T };
    misses.push(outcome.verdict.why);
    // Reader-qualified create over an existing name: the caller named this reader, so no other card.
    if (req.spec.reader !== undefined && req.operation === 'create') break;
  }
  return { done: false, ...(serial !== undefined ? { serial } : {}), misses, checked };
}

/** Levels I and II: only the card in the named reader can match. */
async function readerMatch(host: SelectionHost, req: SelectionRequest, createName: string | undefined, operation: string): Promise<Found> {
  const reader = req.spec.reader!;
  for (let prompts = 0; ; prompts++) {
    const entry = (await host.snapshot()).find((e) => e.szReader === reader);
    if (!entry) throw new CryptError('SCARD_E_UNKNOWN_READER', `no reader named "${reader}"; SCardListReaders gives the names`, { operation });
    let miss: Miss | undefined;
    let card: SmartCard | undefined;
    if (!entry.card && entry.state.card) miss = 'unknown-card'; // a token there, but no registration claims it
    if (entry.card) {
      card = await host.cardIn(entry);
      const verdict = await card.transaction(() => judge(card!, req, createName, undefined));
      if (verdict.ok) return { card, ...(verdict.container ? { container: verdict.container } : {}) };
      miss = verdict.why;
      // Creating over an existing name never asks for another card: the caller named this reader.
      if (req.operation === 'create') throw missError([miss], req, createName, `the card in "${reader}"`, operation);
    }
    const misses = miss ? [miss] : [];
    if (!req.interaction.canAsk || prompts >= MAX_CARD_PROMPTS) throw missError(misses, req, createName, card ? `the card in "${reader}"` : `reader "${reader}"`, operation);
    await req.interaction.selectCard({
      operation: req.operation, reader,
      reason: card ? `the card in "${reader}" does not hold ${req.spec.container ? `"${req.spec.container}"` : 'a default container'}`
        : miss === 'unknown-card' ? `the card in "${reader}" is of a type no registration serves` : `there is no card in "${reader}"`,
      ...(req.spec.container !== undefined ? { container: req.spec.container } : {}),
      candidates: [],
    }, operation);
    // Whatever the answer (this reader, or "look again"), the reader is examined afresh.
  }
}

/** Levels III and IV after the known cards: the other cards present, then the UI. */
async function cardMatch(host: SelectionHost, req: SelectionRequest, createName: string | undefined, operation: string, serialHint: string | undefined, knownMisses: Miss[], checked: ReadonlySet<SmartCard>): Promise<Found> {
  const serial = serialHint;
  const misses: Miss[] = [...knownMisses];

  for (let prompts = 0; ; prompts++) {
    const matches: Found[] = [];
    for (const entry of await host.snapshot()) {
      if (!entry.card) continue;
      const card = await host.cardIn(entry);
      if (checked.has(card) && serial === undefined && prompts === 0) continue; // judged above
      const verdict = await card.transaction(() => judge(card, req, createName, serial));
      if (verdict.ok) {
        matches.push({ card, ...(verdict.container ? { container: verdict.container } : {}) });
        if (req.operation === 'create') break; // first fit
      } else {
        misses.push(verdict.why);
      }
    }
    if (matches.length === 1 || (matches.length > 1 && !req.interaction.canAsk)) return matches[0]!;
    if (!req.interaction.canAsk || prompts >= MAX_CARD_PROMPTS) {
      const where = serial !== undefined ? `the card with serial ${serial}` : 'any card present';
      throw missError(serial !== undefined ? ['no-container'] : misses, req, createName, where, operation);
    }
    const answer = await req.interaction.selectCard({
      operation: req.operation,
      reason: matches.length > 1 ? 'several cards match; choose one'
        : serial !== undefined ? `the card with serial ${serial} is not present`
          : req.operation === 'create' ? createMissReason(misses) : 'no card present holds the container',
      ...(req.spec.container !== undefined ? { container: req.spec.container } : {}),
      ...(serial !== undefined ? { serial } : {}),
      candidates: matches.map((m) => choiceOf(m.card)),
    }, operation);
    if (answer.szReader !== RESCAN_READER) {
      const chosen = matches.find((m) => m.card.szReader === answer.szReader);
      if (chosen) return chosen;
    }
    misses.length = 0;
  }
}
