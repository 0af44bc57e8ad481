/**
 * Card selection: which card (and which container on it) a container name means, following the
 * Windows smart card architecture's flows ("Smart card selection" in the seed document):
 *
 *  Levels I/II (reader named) — reader match: an unknown reader fails (SCARD_E_UNKNOWN_READER); an
 *  empty reader asks for a card; level II takes the card's default container; open/delete of a
 *  container the card lacks asks for another card; create of a name the card holds fails (NTE_EXISTS).
 *
 *  Levels III/IV (no reader) — card match over the cards this process already uses first, each handle
 *  verified by a card operation, then the other cards present, then the UI:
 *   open default: the first card with a default container;
 *   open/delete by name: the card holding it; a known card that held it but whose handle went stale
 *     is then sought by its serial, not by the name;
 *   create: skip removed cards, cards that hold the name, read-only or full cards (CardQueryFreeSpace);
 *     first fit.
 *  Several matches with a UI: the person chooses; without one: the first in reader order.
 *
 * Where the UI would be asked and cannot be (silent context, or no UI and no terminal): a missing
 * container is NTE_BAD_KEYSET, an occupied name NTE_EXISTS, full cards NTE_TOKEN_KEYSET_STORAGE_FULL,
 * and a missing card NTE_SILENT_CONTEXT — the codes applications already branch on.
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
type Miss = 'no-container' | 'no-default' | 'exists' | 'full' | 'read-only' | 'wrong-card';

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
  return new CryptError('NTE_SILENT_CONTEXT', `a smart card is needed${req.spec.reader ? ` in "${req.spec.reader}"` : ''} but none ${misses.includes('wrong-card') ? 'that matches ' : ''}is present and the context cannot ask for one; insert the card`, ctx);
}

function choiceOf(card: SmartCard): CardChoice {
  return { szReader: card.szReader, card: card.identity };
}

/** Finds the card (and container) a request means. */
export async function selectCard(host: SelectionHost, req: SelectionRequest, operation: string): Promise<Selection> {
  const createName = req.operation === 'create' ? req.spec.container ?? randomUUID() : undefined;
  const found = req.spec.reader !== undefined
    ? await readerMatch(host, req, createName, operation)
    : await cardMatch(host, req, createName, operation);
  return { card: found.card, ...(found.container ? { container: found.container } : {}), ...(createName !== undefined ? { createName } : {}) };
}

/** Levels I and II: only the card in the named reader can match. */
async function readerMatch(host: SelectionHost, req: SelectionRequest, createName: string | undefined, operation: string): Promise<{ card: SmartCard; container?: CardContainer }> {
  const reader = req.spec.reader!;
  for (let prompts = 0; ; prompts++) {
    const entry = (await host.snapshot()).find((e) => e.szReader === reader);
    if (!entry) throw new CryptError('SCARD_E_UNKNOWN_READER', `no reader named "${reader}"; SCardListReaders gives the names`, { operation });
    let miss: Miss | undefined;
    let card: SmartCard | undefined;
    if (entry.card) {
      card = await host.cardIn(entry);
      const verdict = await judge(card, req, createName, undefined);
      if (verdict.ok) return { card, ...(verdict.container ? { container: verdict.container } : {}) };
      miss = verdict.why;
      // Creating over an existing name never asks for another card: the caller named this reader.
      if (req.operation === 'create') throw missError([miss], req, createName, `the card in "${reader}"`, operation);
    }
    const misses = miss ? [miss] : [];
    if (!req.interaction.canAsk || prompts >= MAX_CARD_PROMPTS) throw missError(misses, req, createName, card ? `the card in "${reader}"` : `reader "${reader}"`, operation);
    await req.interaction.selectCard({
      operation: req.operation, reader,
      reason: card ? `the card in "${reader}" does not hold ${req.spec.container ? `"${req.spec.container}"` : 'a default container'}` : `there is no card in "${reader}"`,
      ...(req.spec.container !== undefined ? { container: req.spec.container } : {}),
      candidates: [],
    }, operation);
    // Whatever the answer (this reader, or "look again"), the reader is examined afresh.
  }
}

/** Levels III and IV: known cards first (verified), then the other cards present, then the UI. */
async function cardMatch(host: SelectionHost, req: SelectionRequest, createName: string | undefined, operation: string): Promise<{ card: SmartCard; container?: CardContainer }> {
  let serial: string | undefined;
  const misses: Miss[] = [];
  const checked = new Set<SmartCard>();

  for (const card of host.knownCards()) {
    checked.add(card);
    if (!await card.verify()) {
      // A stale handle on the card that held the container: keep looking for that card by serial.
      if (req.operation !== 'create' && req.spec.container !== undefined && card.heldContainer(req.spec.container)) serial ??= card.identity.serial;
      await host.forget(card);
      continue;
    }
    if (serial !== undefined) continue;
    const verdict = await judge(card, req, createName, undefined);
    if (verdict.ok) return { card, ...(verdict.container ? { container: verdict.container } : {}) };
    misses.push(verdict.why);
  }

  for (let prompts = 0; ; prompts++) {
    const matches: { card: SmartCard; container?: CardContainer }[] = [];
    for (const entry of await host.snapshot()) {
      if (!entry.card) continue;
      const card = await host.cardIn(entry);
      if (checked.has(card) && serial === undefined && prompts === 0) continue; // judged above
      const verdict = await judge(card, req, createName, serial);
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
          : req.operation === 'create' ? 'no card present has room for the container' : 'no card present holds the container',
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
