/**
 * The one hidden prompt, shared by the terminal UI (terminal-ui.ts, PINs a card asks for) and the CLI
 * (cli/pin-input.ts, PINs for init and demo), plus what every terminal prompt here has in common:
 * where it is shown and how a person cancels it.
 *
 * Nothing typed is echoed, not even a mask (a mask shows the PIN's length), and the prompt library's
 * Ctrl+T "show the password" toggle is off. Ctrl+C and Escape cancel: the prompt resolves to null and
 * the caller decides what cancelling means (the UI seam answers null = Cancel; the CLI exits with its
 * "cancelled" code). Prompts go to stderr when it is a terminal, so stdout stays data.
 */
import password from '@inquirer/password';

/** The prompt library's context (input, output, abort signal), as both prompts here take it. */
export type PromptContext = NonNullable<Parameters<typeof password>[1]>;

/** The terminal the person is looking at: stderr when it is one, so stdout stays data. */
export function promptOutput(): NodeJS.WritableStream {
  if (process.stderr.isTTY) return process.stderr;
  if (process.stdout.isTTY) return process.stdout;
  return process.stderr;
}

/** True for the prompt library's "the person cancelled" rejections (Ctrl+C, the abort signal). */
function isCancel(err: unknown): boolean {
  const name = (err as Error | undefined)?.name;
  return name === 'ExitPromptError' || name === 'AbortPromptError' || name === 'CancelPromptError';
}

/**
 * Runs one prompt on the terminal (stdin in, promptOutput() out) and turns cancelling into null:
 * Ctrl+C (the library's ExitPromptError) and Escape (a keypress watched here, which aborts the prompt).
 */
export async function cancellablePrompt<T>(run: (context: PromptContext) => Promise<T>): Promise<T | null> {
  const input = process.stdin;
  const abort = new AbortController();
  // The prompt's readline makes the input emit 'keypress'; a lone ESC arrives as { name: 'escape' }
  // (arrow keys and other sequences have their own names).
  const onKeypress = (_text: unknown, key: { name?: string } | undefined): void => {
    if (key?.name === 'escape') abort.abort();
  };
  input.on('keypress', onKeypress);
  try {
    return await run({ input, output: promptOutput(), clearPromptOnDone: false, signal: abort.signal });
  } catch (err) {
    if (isCancel(err)) return null;
    throw err;
  } finally {
    input.removeListener('keypress', onKeypress);
  }
}

/**
 * Asks for a secret, hidden. Returns its UTF-8 bytes for the caller to wipe, or null when cancelled.
 * `validate` may refuse an answer (the prompt stays and shows the message); it sees the string.
 *
 * The prompt library hands the answer over as a JavaScript string, which cannot be wiped (strings are
 * immutable and may be copied by the engine); it is turned into a Buffer at once and dropped, and no
 * other copy is kept here.
 */
export async function hiddenPrompt(message: string, validate?: (value: string) => true | string): Promise<Buffer | null> {
  const answer = await cancellablePrompt((context) =>
    password({ message, mask: false, toggleMask: false, ...(validate ? { validate } : {}) }, context));
  return answer === null ? null : Buffer.from(answer, 'utf8');
}
