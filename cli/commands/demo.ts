/**
 * `p11-ksp demo [--pin-file F] [--throwaway] [--label L] [--json]`: the classic smart-card flow end to
 * end, at the minidriver level, one numbered and timed line per step:
 *   1 open the card, 2 authenticate, 3 create a container (cmapfile record, Base CSP style),
 *   4 generate the exchange key, 5 sign and verify, 6 wrap an AES-256 key for the card key (SIMPLEBLOB),
 *   7 unwrap it on the card and use it, 8 clean up.
 *
 * Which token: on a terminal, the embedded store's own token (set up on first use, PIN asked hidden);
 * without a terminal and without --pin-file, or with --throwaway, a throw-away token with a random
 * in-memory PIN, so `p11-ksp demo` runs anywhere (CI, the README's first command). The demo never
 * leaves anything on a persistent token: its container is deleted on success, failure and Ctrl+C.
 */
import {
  constants as cryptoConstants, createCipheriv, createDecipheriv, createHash, publicEncrypt, randomBytes, timingSafeEqual,
  verify,
} from 'node:crypto';
import type { CardModule } from '../../minidriver/card-module.js';
import {
  AT_KEYEXCHANGE, CALG_SHA_256, CARD_CREATE_CONTAINER_KEY_GEN, CARD_DATA_CURRENT_VERSION, CARD_PADDING_PKCS1,
  CARD_RSA_KEY_DECRYPT_INFO_VERSION_TWO, CARD_SIGNING_INFO_CURRENT_VERSION, CP_CARD_GUID, wszCARD_USER_USER,
} from '../../minidriver/constants.js';
import { cardIdToGuidString } from '../../minidriver/codecs/index.js';
import { CryptError } from '../../minidriver/errors.js';
import { Pkcs11Minidriver } from '../../pkcs11-bridge/index.js';
import { createContainerRecord, deleteContainer, type NewContainer } from '../demo/base-csp-container.js';
import { CALG_AES_256, type CardPublicKey, decodeSimpleBlob, encodeSimpleBlob, publicKeyFromBlob } from '../demo/key-blobs.js';
import { DEFAULT_TOKEN_LABEL, prepareHome } from '../../home.js';
import { errorJson, formatMs, type Output } from '../output.js';
import { isInteractive, readPin, wipe } from '../pin-input.js';
import { StepRunner } from '../step-runner.js';
import { trapStopSignals } from '../stop-signals.js';
import { createThrowawayToken, type ThrowawayToken } from '../throwaway-token.js';
import { findTokenByLabel } from '../token-init.js';
import { ensureHomeToken } from './init.js';

export interface DemoOptions {
  pinFile?: string;
  throwaway?: boolean;
  label?: string;
  json?: boolean;
}

const STEPS = 8;
const RSA_BITS = 2048;

/** The token the demo runs on, and how to let go of it. */
interface DemoToken {
  kind: 'throwaway' | 'home';
  modulePath: string;
  label: string;
  serial: string;
  /** The user PIN; wiped once the card has it. */
  pin: Buffer;
  /** Where the token lives (the home's token folder, or the temporary store). */
  where: string;
  throwaway?: ThrowawayToken;
}

async function chooseToken(options: DemoOptions, out: Output): Promise<DemoToken> {
  if (options.throwaway || (!isInteractive() && !options.pinFile)) {
    const t = createThrowawayToken();
    out.note(`${options.throwaway ? '--throwaway' : 'no terminal'}: using a throw-away SoftHSM2 token in ${t.dir} (random PIN, held in memory only; deleted at the end)`);
    return { kind: 'throwaway', modulePath: t.modulePath, label: t.token.label, serial: t.token.serial, pin: t.pin, where: t.dir, throwaway: t };
  }
  const label = options.label ?? DEFAULT_TOKEN_LABEL;
  if (!isInteractive()) {
    // Setting up a persistent token takes two chosen PINs; a demo in a pipe is no place to do it.
    const store = prepareHome(process.env, (m) => out.note(m));
    if (!findTokenByLabel(store.modulePath, label)?.userPinSet) {
      throw new CryptError('SCARD_E_NO_SMARTCARD', `no token "${label}" in ${store.home} yet: set it up with p11-ksp init --pin-file FILE --so-pin-file FILE, or run the demo without --pin-file for a throw-away token`, { operation: 'p11-ksp demo' });
    }
  }
  const home = await ensureHomeToken({ label }, out, true);
  const pin = home.userPin ?? await readPin({ file: options.pinFile, what: `user PIN of token "${home.token.label}"`, option: '--pin-file' }, (m) => out.note(m));
  return { kind: 'home', modulePath: home.store.modulePath, label: home.token.label, serial: home.token.serial, pin, where: home.store.tokenDir };
}

/** What the steps hand on to each other. */
interface DemoState {
  card?: CardModule;
  authenticated: boolean;
  container?: NewContainer;
  publicKey?: CardPublicKey;
  simpleBlob?: Buffer;
  sessionKey?: Buffer;
}

export async function demoCommand(options: DemoOptions, out: Output): Promise<void> {
  // Ctrl+C stops after the current step, so the clean-up runs on a card in a known state (the
  // throw-away store is still removed by its exit hook after a second Ctrl+C).
  const signals = trapStopSignals((m) => out.note(m), 'this step');
  let token: DemoToken | undefined;
  let driver: Pkcs11Minidriver | undefined;
  const state: DemoState = { authenticated: false };
  const runner = new StepRunner(out, STEPS, () => signals.signal.aborted);
  const started = performance.now();
  let failure: unknown;
  try {
    token = await chooseToken(options, out);
    driver = new Pkcs11Minidriver({ modulePath: token.modulePath });
    await runSteps(runner, driver, token, state);
    const [t, d] = [token, driver];
    await runner.run('clean up', () => cleanUp(d, t, state));
  } catch (err) {
    failure = err;
  } finally {
    signals.release();
    // After a failure (or a failed step 8) whatever is still open; after success there is nothing left.
    if (driver && token) await releaseWhatIsLeft(driver, token, state, out);
    token?.throwaway?.dispose();
    if (token) wipe(token.pin);
    wipe(state.sessionKey);
  }
  const totalMs = performance.now() - started;
  if (options.json) {
    out.document({
      command: 'demo', ok: failure === undefined, totalMs: Math.round(totalMs),
      token: token ? { kind: token.kind, label: token.label, serial: token.serial, where: token.where } : null,
      steps: runner.records,
      ...(failure !== undefined ? { error: errorJson(failure) } : {}),
    });
  } else if (failure === undefined) {
    out.line(`Demo complete: ${STEPS} steps in ${formatMs(totalMs)}; nothing was left on the token.`);
  }
  if (failure !== undefined) throw failure;
}

async function runSteps(runner: StepRunner, driver: Pkcs11Minidriver, token: DemoToken, state: DemoState): Promise<void> {
  await runner.run('open the card', async () => {
    const readers = await driver.listReaders();
    const reader = readers.find((r) => r.card?.label === token.label && r.card.serial === token.serial);
    if (!reader) throw new CryptError('SCARD_E_NO_SMARTCARD', `no reader holds the token "${token.label}"`, { operation: 'SCardListReaders' });
    const card = await driver.CardAcquireContext({ dwVersion: CARD_DATA_CURRENT_VERSION, hScard: reader.hScard });
    state.card = card;
    const guid = cardIdToGuidString(await card.CardGetProperty(CP_CARD_GUID));
    return {
      summary: `${readers.length} reader(s); card "${token.label}" in "${reader.szReader}", CARD_DATA version ${card.dwVersion}, card GUID {${guid}}`,
      details: { readers: readers.map((r) => ({ reader: r.szReader, cardPresent: r.cardPresent, label: r.card?.label ?? null })), reader: reader.szReader, label: token.label, serial: token.serial, dwVersion: card.dwVersion, cardGuid: guid },
    };
  });

  const card = state.card!;
  await runner.run('authenticate', async () => {
    try {
      await card.CardAuthenticatePin(wszCARD_USER_USER, token.pin);
    } finally {
      wipe(token.pin); // the card has it now; nothing else needs it
    }
    state.authenticated = true;
    return { summary: 'CardAuthenticatePin("user") accepted the PIN', details: { user: wszCARD_USER_USER } };
  });

  await runner.run('create a container', async () => {
    const c = await createContainerRecord(card);
    state.container = c;
    return {
      summary: `cmapfile record ${c.index} "${c.name}"${c.isDefault ? ' (default container)' : ''}; cardcf containers counter now ${c.containersFreshness}`,
      details: { ...c },
    };
  });

  const index = state.container!.index;
  await runner.run('generate the exchange key', async () => {
    await card.CardCreateContainer(index, CARD_CREATE_CONTAINER_KEY_GEN, AT_KEYEXCHANGE, RSA_BITS);
    const info = await card.CardGetContainerInfo(index);
    if (!info.pbKeyExPublicKey) throw new CryptError('SCARD_E_NO_KEY_CONTAINER', 'the new container shows no key-exchange key', { operation: 'CardGetContainerInfo' });
    const pub = publicKeyFromBlob(info.pbKeyExPublicKey);
    state.publicKey = pub;
    return {
      summary: `RSA ${pub.bits}-bit AT_KEYEXCHANGE key made on the card; PUBLICKEYBLOB ${info.pbKeyExPublicKey.length} bytes, SPKI SHA-256 ${pub.spkiSha256}`,
      details: { keySpec: 'AT_KEYEXCHANGE', bits: pub.bits, publicKeyBlobBytes: info.pbKeyExPublicKey.length, spkiSha256: pub.spkiSha256 },
    };
  });

  const pub = state.publicKey!;
  await runner.run('sign and verify', async () => {
    const message = Buffer.from(`p11-ksp demo message, ${new Date().toISOString()}`);
    const digest = createHash('sha256').update(message).digest();
    const signatureLe = await card.CardSignData({
      dwVersion: CARD_SIGNING_INFO_CURRENT_VERSION, bContainerIndex: index, dwKeySpec: AT_KEYEXCHANGE, dwSigningFlags: 0,
      aiHashAlg: CALG_SHA_256, pbData: digest,
    });
    // CardSignData answers little-endian (CryptoAPI order); node:crypto wants the big-endian form.
    const signature = Buffer.from(signatureLe).reverse();
    if (!verify('sha256', message, pub.key, signature)) throw new CryptError('NTE_BAD_SIGNATURE', "the card's signature did not verify against its public key", { operation: 'CardSignData' });
    return {
      summary: `CardSignData (CALG_SHA_256, PKCS#1 v1.5): ${signature.length}-byte signature over ${message.length} bytes, verified with node:crypto`,
      details: { hash: 'CALG_SHA_256', signatureBytes: signature.length, verified: true },
    };
  });

  await runner.run('wrap an AES-256 key', async () => {
    state.sessionKey = randomBytes(32);
    // PKCS#1 v1.5 encryption, as CryptoAPI's SIMPLEBLOB export does (Node 20 allows it for public keys).
    const ciphertext = publicEncrypt({ key: pub.key, padding: cryptoConstants.RSA_PKCS1_PADDING }, state.sessionKey);
    state.simpleBlob = encodeSimpleBlob(CALG_AES_256, ciphertext);
    return {
      summary: `random AES-256 session key encrypted to the card key (RSA PKCS#1 v1.5); SIMPLEBLOB of ${state.simpleBlob.length} bytes`,
      details: { aiKeyAlg: 'CALG_AES_256', simpleBlobBytes: state.simpleBlob.length, simpleBlobHeader: state.simpleBlob.subarray(0, 12).toString('hex') },
    };
  });

  await runner.run('unwrap on the card', async () => {
    const { ciphertextLittleEndian } = decodeSimpleBlob(state.simpleBlob!);
    const unwrapped = await card.CardRSADecrypt({
      dwVersion: CARD_RSA_KEY_DECRYPT_INFO_VERSION_TWO, bContainerIndex: index, dwKeySpec: AT_KEYEXCHANGE,
      pbData: ciphertextLittleEndian, dwPaddingType: CARD_PADDING_PKCS1,
    });
    try {
      const sessionKey = state.sessionKey!;
      if (unwrapped.length !== sessionKey.length || !timingSafeEqual(unwrapped, sessionKey)) {
        throw new CryptError('NTE_BAD_KEY', 'the key the card unwrapped differs from the one wrapped', { operation: 'CardRSADecrypt' });
      }
      const roundTrip = aesRoundTrip(sessionKey, unwrapped);
      return {
        summary: `CardRSADecrypt (CARD_PADDING_PKCS1) gave back the ${unwrapped.length}-byte key: match; AES-256-CBC ${roundTrip.ciphertextBytes} bytes encrypted with the session key decrypted with the unwrapped key: ${roundTrip.ok ? 'round trip ok' : 'MISMATCH'}`,
        details: { unwrappedBytes: unwrapped.length, match: true, aesRoundTrip: roundTrip.ok },
      };
    } finally {
      wipe(unwrapped);
    }
  });
}

/** Encrypt with one copy of the key, decrypt with the other: both sides of a session agree. */
function aesRoundTrip(senderKey: Buffer, receiverKey: Buffer): { ok: boolean; ciphertextBytes: number } {
  const message = Buffer.from('a message under the session key the card unwrapped');
  const iv = randomBytes(16);
  const encrypter = createCipheriv('aes-256-cbc', senderKey, iv);
  const ciphertext = Buffer.concat([encrypter.update(message), encrypter.final()]);
  const decrypter = createDecipheriv('aes-256-cbc', receiverKey, iv);
  const plaintext = Buffer.concat([decrypter.update(ciphertext), decrypter.final()]);
  const ok = plaintext.equals(message);
  if (!ok) throw new CryptError('NTE_BAD_DATA', 'AES-256-CBC round trip failed', { operation: 'demo' });
  return { ok, ciphertextBytes: ciphertext.length };
}

/** Step 8: delete the container, log out, release the context and the module. */
async function cleanUp(driver: Pkcs11Minidriver, token: DemoToken, state: DemoState): Promise<{ summary: string; details: Record<string, unknown> }> {
  const card = state.card!;
  const index = state.container!.index;
  await deleteContainer(card, index);
  state.container = undefined;
  await card.CardDeauthenticate(wszCARD_USER_USER);
  state.authenticated = false;
  await card.CardDeleteContext();
  state.card = undefined;
  await driver.close();
  token.throwaway?.dispose();
  const gone = token.throwaway ? '; throw-away store deleted' : '';
  return {
    summary: `container ${index} deleted, PIN deauthenticated, context deleted, module closed${gone}`,
    details: { deletedContainer: index, throwawayStoreDeleted: token.throwaway !== undefined },
  };
}

/**
 * After a failed step: the same clean-up, best effort, each part on its own so one failure does not
 * skip the rest. The demo's container must not stay on a persistent token. Parts already done (state
 * cleared by cleanUp, driver.close() idempotent) are skipped.
 */
async function releaseWhatIsLeft(driver: Pkcs11Minidriver, token: DemoToken, state: DemoState, out: Output): Promise<void> {
  const attempt = async (what: string, work: () => Promise<unknown>): Promise<void> => {
    try {
      await work();
    } catch (err) {
      out.note(`clean-up: ${what} failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
  const card = state.card;
  if (card && state.container) {
    const { index } = state.container;
    await attempt(`deleting the demo container ${index}`, () => deleteContainer(card, index));
    if (token.kind === 'home') out.note(`clean-up: demo container ${index} removed from token "${token.label}"`);
  }
  if (card && state.authenticated) await attempt('deauthenticating', () => card.CardDeauthenticate(wszCARD_USER_USER));
  if (card) await attempt('deleting the card context', () => card.CardDeleteContext());
  await attempt('closing the module', () => driver.close());
}
