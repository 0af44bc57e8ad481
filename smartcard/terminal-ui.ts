/**
 * The terminal UI: what ui.ts uses when no application UI is registered and stdin and stderr are
 * terminals (the CLI installs it at startup). It plays the two Windows dialogs in text:
 *
 * - promptPin, the credential dialog: a hidden prompt (hidden-prompt.ts: nothing echoed, not even a
 *   mask, Ctrl+T toggle off) naming the card, the reader and the key container, and saying "wrong PIN,
 *   N tries left" after a wrong PIN. The PIN is returned as a Buffer, which the caller wipes.
 * - selectCard, SCardUIDlgSelectCard: the prompt and the reason, then a list of the cards present
 *   ("reader — label (serial)"), an entry to look again after inserting another card, and Cancel. With
 *   no card present the list is "look again" (Enter, once the card is in) and Cancel. "Look again"
 *   answers RESCAN_READER (an empty reader name): the selection code then lists the readers afresh
 *   and asks again if the card is still not there.
 *
 * Ctrl+C or Escape in either prompt is Cancel (null). Prompts are written to stderr; stdout is left to
 * the program's data.
 */
import select from '@inquirer/select';
import { cancellablePrompt, hiddenPrompt, promptOutput } from './hidden-prompt.js';
import type { CardIdentity } from './readers/reader-list.js';
import {
  type CardPromptAnswer, type CardPromptRequest, type PinPromptRequest, RESCAN_READER, setTerminalUserInterfaceFactory,
  type UserInterface,
} from './ui.js';

export { RESCAN_READER };

/** attemptsRemaining when the card does not say how many tries are left (PIN_INFO's "unknown"). */
const UNKNOWN_ATTEMPTS = 0xffffffff;

/** ROLE_USER: the PIN a person is asked for ordinarily. */
const ROLE_USER = 1;

/**
 * Text from a card or a reader, made safe to print: a token label could carry terminal control
 * sequences (clearing the screen, retitling the window), so control characters become '?'.
 */
function printable(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?').trim();
}

/** "card "label" (serial 1234)", or what is known of it. */
function describeCard(card: CardIdentity | undefined): string {
  if (!card) return 'the card';
  const label = printable(card.label ?? '');
  const serial = printable(card.serial ?? '');
  if (label && serial) return `card "${label}" (serial ${serial})`;
  if (label) return `card "${label}"`;
  if (serial) return `card with serial ${serial}`;
  return 'the card';
}

function triesLeft(attempts: number | undefined): string | undefined {
  if (attempts === undefined || attempts === UNKNOWN_ATTEMPTS || !Number.isInteger(attempts) || attempts < 0) return undefined;
  return attempts === 1 ? '1 try left' : `${attempts} tries left`;
}

/** The PIN prompt's text: what went wrong last time, then which PIN for which card, reader and key. */
export function pinPromptMessage(request: PinPromptRequest): string {
  const parts: string[] = [];
  const tries = triesLeft(request.attemptsRemaining);
  if (request.retry) parts.push(tries ? `Wrong PIN, ${tries}.` : 'Wrong PIN.');
  else if (tries) parts.push(`${tries[0]!.toUpperCase()}${tries.slice(1)}.`);
  const which = request.pinId === ROLE_USER || request.pinId === undefined ? 'the PIN' : `PIN #${request.pinId}`;
  let ask = `Enter ${which} of ${describeCard(request.card)}`;
  if (request.szReader) ask += ` in reader "${printable(request.szReader)}"`;
  if (request.container !== undefined) ask += ` for key container "${printable(request.container)}"`;
  if (request.prompt) parts.push(printable(request.prompt));
  parts.push(`${ask}:`);
  return parts.join(' ');
}

/** One line of the card list: "reader — label (serial)". */
function choiceName(szReader: string, card: CardIdentity | undefined): string {
  const label = printable(card?.label ?? '');
  const serial = printable(card?.serial ?? '');
  const what = label && serial ? `${label} (${serial})` : label || (serial ? `(${serial})` : 'card');
  return `${printable(szReader)} — ${what}`;
}

/** The list's answers: a reader, "look again" or Cancel. */
type Pick = { kind: 'reader'; szReader: string } | { kind: 'rescan' } | { kind: 'cancel' };

export class TerminalUserInterface implements UserInterface {
  async promptPin(request: PinPromptRequest): Promise<Buffer | null> {
    // hiddenPrompt's Buffer is returned as is and not kept: the caller wipes it. The string the prompt
    // library built on the way cannot be wiped (see hidden-prompt.ts).
    return hiddenPrompt(pinPromptMessage(request));
  }

  async selectCard(request: CardPromptRequest): Promise<CardPromptAnswer | null> {
    const out = promptOutput();
    const lines = [request.prompt, request.reason].filter((l) => typeof l === 'string' && l.length > 0).map(printable);
    if (lines.length > 0) out.write(`${lines.join('\n')}\n`);

    const candidates = request.candidates ?? [];
    const choices: { name: string; value: Pick }[] = candidates.map((c) => ({
      name: choiceName(c.szReader, c.card),
      value: { kind: 'reader', szReader: c.szReader },
    }));
    const empty = choices.length === 0;
    choices.push({ name: empty ? 'I have inserted the card: look again' : 'I have inserted another card: look again', value: { kind: 'rescan' } });
    choices.push({ name: 'Cancel', value: { kind: 'cancel' } });

    const message = empty ? 'Insert the card, then press Enter:' : 'Choose the card:';
    const pick = await cancellablePrompt((context) => select<Pick>({ message, choices, loop: false }, context));
    if (pick === null || pick.kind === 'cancel') return null;
    if (pick.kind === 'rescan') return { szReader: RESCAN_READER };
    return { szReader: pick.szReader };
  }
}

/** Makes the terminal UI the one ui.ts uses when no application UI is registered and a terminal is there. */
export function installTerminalUserInterface(): void {
  setTerminalUserInterfaceFactory(() => new TerminalUserInterface());
}
