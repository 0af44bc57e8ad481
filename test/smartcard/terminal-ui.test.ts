// The smart-card terminal UI under a real pseudo-terminal (util-linux `script`): the PIN prompt hides
// what is typed and hands back its bytes, says how many tries are left, and cancels; the card list
// picks a reader, cancels, and "look again" after inserting a card. A driver script
// (fixtures/terminal-ui-driver.ts) asks once and prints the answer, never the PIN itself.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { pinPromptMessage, RESCAN_READER } from '../../smartcard/terminal-ui.js';
import type { CardPromptRequest, PinPromptRequest } from '../../smartcard/ui.js';
import { runScriptInTerminal, type TerminalAnswer } from '../cli/harness.js';

const DRIVER = fileURLToPath(new URL('./fixtures/terminal-ui-driver.js', import.meta.url));
const PIN = 'typed-card-pin-5b2e';
const DOWN = '\x1b[B';
const CTRL_C = '\x03';
const ESC = '\x1b';

const CARD = { label: 'Alice card', serial: 'SN-0042', manufacturer: 'test', model: 'test' };
const PIN_REQUEST: PinPromptRequest = { szReader: 'Reader A', card: CARD, pinId: 1, container: 'mail-key', retry: false };

function hasScript(): boolean {
  try {
    execFileSync('script', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function sha256(text: string): string {
  return createHash('sha256').update(Buffer.from(text, 'utf8')).digest('hex');
}

/** The screen as text: colours and cursor moves dropped, the prompt library's line wrapping undone. */
function plain(screen: string): string {
  return screen.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r?\n/g, '');
}

/** The typed text appears nowhere on the screen, raw or unwrapped. */
function assertNotEchoed(screen: string, typed: string): void {
  assert.equal(screen.includes(typed) || plain(screen).includes(typed), false, `"${typed.slice(0, 2)}…" was echoed`);
}

async function drive(mode: 'pin' | 'select', request: object, answers: TerminalAnswer[]): Promise<{ result: string; screen: string; raw: string }> {
  const { code, screen } = await runScriptInTerminal(DRIVER, [mode, JSON.stringify(request)], {}, answers);
  assert.equal(code, 0, screen);
  const result = /RESULT (.*)/.exec(screen)?.[1]?.trim();
  assert.ok(result, `no RESULT line; screen:\n${screen}`);
  return { result, screen: plain(screen), raw: screen };
}

function selectResult(result: string): unknown {
  assert.match(result, /^select /);
  return JSON.parse(result.slice('select '.length));
}

describe('smart-card terminal UI: messages', () => {
  it('names the card, its serial, the reader and the key container', () => {
    const message = pinPromptMessage(PIN_REQUEST);
    assert.match(message, /Alice card/);
    assert.match(message, /SN-0042/);
    assert.match(message, /Reader A/);
    assert.match(message, /mail-key/);
    assert.doesNotMatch(message, /wrong|tries/i);
  });

  it('says "wrong PIN, N tries left", and no number when the card does not say', () => {
    assert.match(pinPromptMessage({ ...PIN_REQUEST, retry: true, attemptsRemaining: 2 }), /Wrong PIN, 2 tries left/);
    assert.match(pinPromptMessage({ ...PIN_REQUEST, retry: true, attemptsRemaining: 1 }), /Wrong PIN, 1 try left/);
    for (const attemptsRemaining of [undefined, 0xffffffff]) {
      const message = pinPromptMessage({ ...PIN_REQUEST, retry: true, attemptsRemaining });
      assert.match(message, /Wrong PIN\./);
      assert.doesNotMatch(message, /\d+ tr(ies|y) left|4294967295/);
    }
  });

  it('prints no terminal control characters that came from the card', () => {
    const message = pinPromptMessage({ ...PIN_REQUEST, card: { ...CARD, label: 'evil\x1b[2Jcard' } });
    assert.equal(message.includes('\x1b'), false);
  });
});

describe('smart-card terminal UI on a terminal', function () {
  this.timeout(120_000);
  before(function () {
    if (!hasScript()) this.skip(); // util-linux `script` makes the pseudo-terminal
  });

  it('promptPin asks hidden and returns the typed bytes as a Buffer', async () => {
    const { result, screen, raw } = await drive('pin', PIN_REQUEST, [{ prompt: /Enter the PIN of/, answer: PIN }]);
    assert.equal(result, `pin buffer bytes=${Buffer.byteLength(PIN)} sha256=${sha256(PIN)}`);
    assert.match(screen, /card "Alice card" \(serial SN-0042\) in reader "Reader A" for key container "mail-key"/);
    assertNotEchoed(raw, PIN);
    assert.equal(screen.includes('*'.repeat(4)), false, 'not even a mask is shown');
  });

  it('promptPin after a wrong PIN says how many tries are left', async () => {
    const { result, screen, raw } = await drive('pin', { ...PIN_REQUEST, retry: true, attemptsRemaining: 2 }, [
      { prompt: /Enter the PIN of/, answer: PIN },
    ]);
    assert.match(screen, /Wrong PIN, 2 tries left/);
    assert.equal(result, `pin buffer bytes=${Buffer.byteLength(PIN)} sha256=${sha256(PIN)}`);
    assertNotEchoed(raw, PIN);
  });

  it('promptPin: Ctrl+C cancels (null), even with part of a PIN typed', async () => {
    const { result, raw } = await drive('pin', PIN_REQUEST, [{ prompt: /Enter the PIN of/, answer: `12ab${CTRL_C}`, enter: false }]);
    assert.equal(result, 'pin null');
    assertNotEchoed(raw, '12ab');
  });

  it('promptPin: Escape cancels (null)', async () => {
    const { result } = await drive('pin', PIN_REQUEST, [{ prompt: /Enter the PIN of/, answer: ESC, enter: false }]);
    assert.equal(result, 'pin null');
  });

  const twoCards: CardPromptRequest = {
    operation: 'open',
    prompt: 'Insert the smart card that holds the key container "mail-key".',
    reason: 'two cards hold such a container',
    container: 'mail-key',
    candidates: [
      { szReader: 'Reader A', card: CARD },
      { szReader: 'Reader B', card: { label: 'Bob card', serial: 'SN-0077', manufacturer: 'test', model: 'test' } },
    ],
  };

  it('selectCard shows the prompt, the reason and the cards, and returns the reader chosen', async () => {
    const { result, screen } = await drive('select', twoCards, [{ prompt: /Choose the card/, answer: DOWN }]);
    assert.deepEqual(selectResult(result), { szReader: 'Reader B' });
    assert.match(screen, /Insert the smart card that holds the key container "mail-key"\./);
    assert.match(screen, /two cards hold such a container/);
    assert.match(screen, /Reader A — Alice card \(SN-0042\)/);
    assert.match(screen, /Reader B — Bob card \(SN-0077\)/);
  });

  it('selectCard: the first card is the default (Enter)', async () => {
    const { result } = await drive('select', twoCards, [{ prompt: /Choose the card/, answer: '' }]);
    assert.deepEqual(selectResult(result), { szReader: 'Reader A' });
  });

  it('selectCard: Cancel gives null', async () => {
    // Reader A, Reader B, look again, Cancel.
    const { result, screen } = await drive('select', twoCards, [{ prompt: /Choose the card/, answer: DOWN.repeat(3) }]);
    assert.equal(selectResult(result), null);
    assert.match(screen, /Cancel/);
  });

  it('selectCard: "look again" after inserting another card gives RESCAN_READER', async () => {
    const { result } = await drive('select', twoCards, [{ prompt: /Choose the card/, answer: DOWN.repeat(2) }]);
    assert.deepEqual(selectResult(result), { szReader: RESCAN_READER });
  });

  it('selectCard: Escape and Ctrl+C give null', async () => {
    for (const key of [ESC, CTRL_C]) {
      const { result } = await drive('select', twoCards, [{ prompt: /Choose the card/, answer: key, enter: false }]);
      assert.equal(selectResult(result), null);
    }
  });

  it('selectCard with no card present: the person inserts one and presses Enter → RESCAN_READER', async () => {
    const request: CardPromptRequest = {
      operation: 'open',
      prompt: 'Insert the smart card that holds the key container "mail-key" into "Reader A".',
      reason: 'no card in the reader',
      reader: 'Reader A',
      container: 'mail-key',
      candidates: [],
    };
    const { result, screen } = await drive('select', request, [{ prompt: /Insert the card, then press Enter/, answer: '' }]);
    assert.equal(RESCAN_READER, '');
    assert.deepEqual(selectResult(result), { szReader: RESCAN_READER });
    assert.match(screen, /into "Reader A"/);
    assert.match(screen, /no card in the reader/);
  });

  it('selectCard with no card present: Cancel gives null', async () => {
    const request: CardPromptRequest = { operation: 'create', prompt: 'Insert a smart card.', reason: 'no card', candidates: [] };
    const { result } = await drive('select', request, [{ prompt: /Insert the card, then press Enter/, answer: DOWN }]);
    assert.equal(selectResult(result), null);
  });
});
