/**
 * Text from tokens made safe to show: control characters become visible escapes.
 *
 * Why: case messages and token identity strings come from the token (labels, manufacturer fields,
 * error texts), and a token may put anything there. XML 1.0 cannot carry most C0 control characters
 * at all, even escaped, and in a terminal or a browser they would move the cursor, ring the bell or
 * vanish silently. Tab, line feed and carriage return stay as they are (they are text).
 */

/** C0 controls except \t \n \r, DEL, and the C1 range. */
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/g;

/** One control character as the escape a reader recognises: `\u0007`. */
export function escapeControl(char: string): string {
  return `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

/** The text with every control character (other than tab and line ends) made visible. */
export function visibleText(text: string): string {
  return text.replace(CONTROL, escapeControl);
}

/** A duration for people: 0.4 ms, 12 ms, 1.3 s. */
export function formatDuration(ms: number): string {
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(1)} s`;
}

/**
 * A failure as one text: "CODE: message". CryptError messages already start with their code name
 * (minidriver/errors.ts), so the code is added only when the message does not begin with it.
 */
export function codeAndMessage(error: { code?: string; message: string }): string {
  if (!error.code || error.message.startsWith(`${error.code}:`)) return error.message;
  return `${error.code}: ${error.message}`;
}
