/**
 * The UI seam: what the Smart Card service asks of a person, and the one place that decides whether it
 * may ask at all.
 *
 * Windows shows SCardUIDlgSelectCard ("insert a smart card", with the PP_UI_PROMPT text) and the
 * credential dialog for the PIN. Here an application registers an object with two methods; the CLI
 * registers a terminal one. Returning null from either is the user pressing Cancel
 * (SCARD_W_CANCELLED_BY_USER). A silent context never calls it: where a person would be needed it
 * fails with NTE_SILENT_CONTEXT. With no UI registered and no terminal, every context is silent (a
 * daemon must never hang on a prompt nobody sees); with no UI registered but a terminal on stdin and
 * stderr, the terminal UI is used, as the api contract says.
 */
import { CryptError } from '../minidriver/errors.js';
import type { CardIdentity } from './readers/reader-list.js';

/** What a card prompt is for: the container operation that needs a card. */
export type CardPromptOperation = 'open' | 'create' | 'delete';

/** A reader and the card in it, as offered to the person choosing. */
export interface CardChoice {
  szReader: string;
  card: CardIdentity;
}

/** The SCardUIDlgSelectCard role: ask for a card to be inserted or chosen. */
export interface CardPromptRequest {
  operation: CardPromptOperation;
  /** The text to show: PP_UI_PROMPT's when an application set one, else a sentence naming the need. */
  prompt: string;
  /** Why no card was taken without asking. */
  reason: string;
  /** The reader named by a level I/II container name; the answer must be this reader. */
  reader?: string;
  /** The container sought (open/delete) or to be created; undefined = the default container. */
  container?: string;
  /** A specific card is sought (its handle went stale): only this serial will do. */
  serial?: string;
  /** Cards present now that the filter accepts (may be empty: the person must insert one). */
  candidates: CardChoice[];
}

/** The answer: the reader whose card to use (after the person inserted or chose it). */
export interface CardPromptAnswer {
  szReader: string;
}

/** An empty reader name in a CardPromptAnswer: "look again" (the person inserted a card). */
export const RESCAN_READER = '';

export interface PinPromptRequest {
  szReader: string;
  card: CardIdentity;
  /** PIN_ID (ROLE_USER = 1). */
  pinId: number;
  /** Container the PIN unlocks a key of, if any. */
  container?: string;
  /** Tries left when the card says (after a wrong PIN), else undefined. */
  attemptsRemaining?: number;
  /** The last attempt was wrong: say so. */
  retry: boolean;
  /** The application's text for this prompt (NCRYPT_PIN_PROMPT_PROPERTY), if it set one. */
  prompt?: string;
}

export interface UserInterface {
  /** Ask for a card. null = cancelled. */
  selectCard(request: CardPromptRequest): Promise<CardPromptAnswer | null>;
  /**
   * Ask for a PIN. null = cancelled. A Uint8Array answer is wiped by the caller once the card has it;
   * a string cannot be wiped (JavaScript strings are immutable), so prefer bytes.
   */
  promptPin(request: PinPromptRequest): Promise<string | Uint8Array | null>;
}

let registered: UserInterface | null = null;
let terminalFactory: (() => UserInterface) | null = null;
let uiPromptText: string | undefined;

/** Registers the application's UI (null removes it). Process-wide, as the Windows dialog is. */
export function setUserInterface(ui: UserInterface | null): void {
  if (ui !== null && (typeof ui !== 'object' || typeof ui.selectCard !== 'function' || typeof ui.promptPin !== 'function')) {
    throw new CryptError('NTE_BAD_DATA', 'setUserInterface takes an object with selectCard(request) and promptPin(request) methods, or null', { operation: 'setUserInterface' });
  }
  registered = ui;
}

export function getUserInterface(): UserInterface | null {
  return registered;
}

/**
 * The terminal UI used when no application UI is registered and a terminal is there. Installed by the
 * module that implements it (terminal-ui.ts) so that this file loads no prompt library.
 */
export function setTerminalUserInterfaceFactory(factory: (() => UserInterface) | null): void {
  terminalFactory = factory;
}

/** PP_UI_PROMPT: the card-insertion prompt text, persistent for the process once set. */
export function setCardPromptText(text: string | null): void {
  if (text !== null && typeof text !== 'string') throw new CryptError('NTE_BAD_DATA', 'the prompt text must be a string', { operation: 'PP_UI_PROMPT' });
  uiPromptText = text === null || text.length === 0 ? undefined : text;
}

export function cardPromptText(): string | undefined {
  return uiPromptText;
}

function hasTerminal(): boolean {
  return process.stdin.isTTY === true && process.stderr.isTTY === true;
}

/** The UI a context may use now, or null when it must behave as silent. */
function activeUserInterface(): UserInterface | null {
  if (registered) return registered;
  if (terminalFactory && hasTerminal()) return terminalFactory();
  return null;
}

/**
 * A context's permission to ask: `silent` is CRYPT_SILENT / NCRYPT_SILENT_FLAG. Every place that would
 * show UI goes through `require`, so "silent never calls the UI" holds by construction.
 */
export class Interaction {
  constructor(readonly silent: boolean) {}

  /** True when a person could be asked (not silent, and a UI exists). */
  get canAsk(): boolean {
    return !this.silent && activeUserInterface() !== null;
  }

  /** The UI to ask, or NTE_SILENT_CONTEXT naming what would have been asked. */
  require(what: string, operation: string, context: { card?: string; container?: string } = {}): UserInterface {
    const ui = this.silent ? null : activeUserInterface();
    if (ui) return ui;
    const why = this.silent ? 'the context is silent' : 'no UI is registered (setUserInterface) and there is no terminal';
    throw new CryptError('NTE_SILENT_CONTEXT', `${what} is needed but ${why}; set the PIN first (NCRYPT_PIN_PROPERTY / PP_KEYEXCHANGE_PIN) or open a non-silent context`, { operation, ...context });
  }

  /** Asks for a card; cancel → SCARD_W_CANCELLED_BY_USER. */
  async selectCard(request: Omit<CardPromptRequest, 'prompt'> & { prompt?: string }, operation: string): Promise<CardPromptAnswer> {
    const ui = this.require('a smart card', operation, { container: request.container });
    const prompt = cardPromptText() ?? request.prompt ?? defaultCardPrompt(request);
    const answer = await ui.selectCard({ ...request, prompt });
    if (answer === null || answer === undefined) {
      throw new CryptError('SCARD_W_CANCELLED_BY_USER', 'the card selection was cancelled', { operation, container: request.container });
    }
    if (typeof answer !== 'object' || typeof answer.szReader !== 'string') {
      throw new CryptError('SCARD_E_INVALID_PARAMETER', 'selectCard must resolve to { szReader } or null', { operation });
    }
    return answer;
  }

  /** Asks for a PIN; cancel → SCARD_W_CANCELLED_BY_USER. The bytes are the caller's to wipe. */
  async promptPin(request: PinPromptRequest, operation: string): Promise<Buffer> {
    const ui = this.require('the PIN', operation, { card: request.card.label, container: request.container });
    const answer = await ui.promptPin(request);
    if (answer === null || answer === undefined) {
      throw new CryptError('SCARD_W_CANCELLED_BY_USER', 'the PIN entry was cancelled', { operation, card: request.card.label });
    }
    if (typeof answer === 'string') return Buffer.from(answer, 'utf8');
    if (answer instanceof Uint8Array) {
      const copy = Buffer.from(answer);
      answer.fill(0);
      return copy;
    }
    throw new CryptError('SCARD_E_INVALID_PARAMETER', 'promptPin must resolve to a string, bytes or null', { operation });
  }
}

function defaultCardPrompt(request: Omit<CardPromptRequest, 'prompt'>): string {
  const where = request.reader ? ` into "${request.reader}"` : '';
  const which = request.serial ? ` (serial ${request.serial})` : '';
  switch (request.operation) {
    case 'create':
      return `Insert a smart card${which}${where} with room for a new key container${request.container ? ` "${request.container}"` : ''}.`;
    case 'delete':
    case 'open':
      return request.container
        ? `Insert the smart card${which}${where} that holds the key container "${request.container}".`
        : `Insert a smart card${which}${where} that holds a default key container.`;
  }
}
