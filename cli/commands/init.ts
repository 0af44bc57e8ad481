/**
 * `p11-ksp init [--label p11-ksp] [--pin-file F] [--so-pin-file F]`: sets up the token of the embedded
 * store (P11KSP_HOME) on first use.
 *
 * Idempotent: a token with the label is reported and left alone (exit 0), so scripts can run it every
 * time. A token that an interrupted init left without a user PIN is finished instead. The PINs are the
 * user's choice: typed twice on a terminal, or read from files; without either it is a usage error,
 * never a default PIN.
 */
import { UsageError } from '../exit-codes.js';
import { DEFAULT_TOKEN_LABEL, type EmbeddedStore, prepareHome } from '../../home.js';
import type { Output } from '../output.js';
import { isInteractive, readNewPin, readPin, wipe } from '../pin-input.js';
import { completeUserPin, findTokenByLabel, initialiseToken, LABEL_BYTES } from '../token-init.js';
import type { TokenIdentity } from '../../pkcs11-bridge/token.js';

export interface InitOptions {
  label?: string;
  pinFile?: string;
  soPinFile?: string;
}

export interface HomeToken {
  store: EmbeddedStore;
  token: TokenIdentity;
  /** True when this call created (or finished) the token. */
  created: boolean;
  /** The user PIN chosen, when this call created the token; the caller wipes it. */
  userPin?: Buffer;
}

/** Without a terminal every PIN must come from a file: say which options are missing, all at once. */
function requireFilesWithoutTerminal(options: InitOptions, needSoPin: boolean): void {
  if (isInteractive()) return;
  const missing = [...(options.pinFile ? [] : ['--pin-file FILE']), ...(needSoPin && !options.soPinFile ? ['--so-pin-file FILE'] : [])];
  if (missing.length > 0) {
    throw new UsageError(`no terminal to ask for PINs: pass ${missing.join(' and ')} (the first line of each file is the PIN; chmod 600 it)`);
  }
}

/**
 * The embedded store's token labelled `label`, created if it is missing. `keepUserPin` hands the chosen
 * user PIN back (the demo uses it instead of asking again); otherwise it is wiped here.
 */
export async function ensureHomeToken(options: InitOptions, out: Output, keepUserPin = false): Promise<HomeToken> {
  const label = options.label ?? DEFAULT_TOKEN_LABEL;
  const labelBytes = Buffer.byteLength(label, 'utf8');
  if (labelBytes === 0 || labelBytes > LABEL_BYTES) throw new UsageError(`--label takes 1 to ${LABEL_BYTES} bytes (a PKCS#11 token label); "${label}" has ${labelBytes}`);
  const store = prepareHome(process.env, (m) => out.note(m));
  const existing = findTokenByLabel(store.modulePath, label);
  if (existing?.userPinSet) return { store, token: existing, created: false };

  requireFilesWithoutTerminal(options, true);
  const warn = (m: string): void => out.note(m);
  let userPin: Buffer | undefined;
  let soPin: Buffer | undefined;
  try {
    if (existing) {
      out.note(`token "${label}" has no user PIN yet (an earlier init stopped half-way); finishing it`);
      soPin = await readPin({ file: options.soPinFile, what: 'SO PIN', option: '--so-pin-file' }, warn);
      userPin = await readNewPin({ file: options.pinFile, what: 'user PIN', option: '--pin-file' }, warn);
      const token = completeUserPin(store.modulePath, label, soPin, userPin);
      return { store, token, created: true, ...(keepUserPin ? { userPin } : {}) };
    }
    out.note(`setting up token "${label}" in ${store.home}`);
    userPin = await readNewPin({ file: options.pinFile, what: 'user PIN', option: '--pin-file' }, warn);
    soPin = await readNewPin({ file: options.soPinFile, what: 'SO PIN', option: '--so-pin-file' }, warn);
    const token = initialiseToken(store.modulePath, label, soPin, userPin);
    return { store, token, created: true, ...(keepUserPin ? { userPin } : {}) };
  } catch (err) {
    wipe(userPin);
    throw err;
  } finally {
    wipe(soPin);
    if (!keepUserPin) wipe(userPin);
  }
}

export async function initCommand(options: InitOptions, out: Output): Promise<void> {
  const { store, token, created } = await ensureHomeToken(options, out);
  if (created) {
    out.line(`Created token "${token.label}" (serial ${token.serial}) in ${store.tokenDir}`);
  } else {
    out.line(`Token "${token.label}" already exists (serial ${token.serial}) in ${store.tokenDir}; nothing to do`);
  }
}
