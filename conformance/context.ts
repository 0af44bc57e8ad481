/**
 * What a case gets (CaseContext) and what the runner keeps per case to clean up after it: the card
 * contexts it acquired and the containers it named. Also the run's PIN and the UI that answers the
 * front ends' PIN prompts with it.
 *
 * The PIN: asked once (options.pin), kept in the native addon's locked, non-dumpable memory, handed to
 * a case as a fresh copy that is wiped when the case's use of it ends, and wiped for good when the run
 * ends. It is never logged and never put in a note, an event or an error.
 */
import { randomBytes } from 'node:crypto';
import type { CardModule } from '../minidriver/card-module.js';
import {
  CARD_CACHE_CONTAINERS, CARD_CACHE_FILES, CARD_DATA_VERSION_SEVEN, szBASE_CSP_DIR, szCONTAINER_MAP_FILE, wszCARD_USER_USER,
} from '../minidriver/constants.js';
import { bumpCardCf, decodeCardCf, decodeCmapFile, encodeCardCf, findContainer } from '../minidriver/codecs/index.js';
import { CryptError } from '../minidriver/errors.js';
import { allocateSecure, isSecureMemoryAvailable, type SecureBuffer, wipe } from '../native/index.js';
import type { CardPromptAnswer, CardPromptRequest, PinPromptRequest, UserInterface } from '../smartcard/ui.js';
import type { CaseContext, TargetCapabilities, TargetIdentity } from './case.js';
import type { OpenTarget } from './target.js';

/** Prefix of every container the suite creates; nothing else is ever deleted. */
export const OWN_CONTAINER_PREFIX = 'p11ksp-conf-';

/** A PIN is short; the bound refuses a wrong --pin-file (a whole key file) early. */
const MAX_PIN_BYTES = 256;

/** Zeroes a plain buffer (the native wipe when the addon is there, fill otherwise). */
function zero(bytes: Uint8Array): void {
  if (isSecureMemoryAvailable()) wipe(bytes);
  else bytes.fill(0);
}

/**
 * The run's user PIN: asked at most once, checked once on the card, held in secure memory, wiped by
 * dispose().
 *
 * Why it is checked before any case uses it: every case that needs the PIN would otherwise present a
 * wrong one again, and a real card blocks after a few tries. One refused check ends the run (the
 * runner rethrows `refusal`); an ask that failed (cancelled, unreadable file) is not asked again.
 */
export class RunPin {
  private held: SecureBuffer | Buffer | undefined;
  private length = 0;
  private asking: Promise<void> | undefined;
  private failure: unknown;
  private verify: ((pin: Uint8Array) => Promise<void>) | undefined;

  constructor(private readonly ask: () => Promise<Uint8Array>) {}

  /** The card's check of the PIN, run once when the PIN is first needed (set by the runner). */
  setVerifier(verify: (pin: Uint8Array) => Promise<void>): void {
    this.verify = verify;
  }

  /** Why the PIN cannot be used (the card refused it, or it could not be had), if so. */
  get refusal(): unknown {
    return this.failure;
  }

  private async load(): Promise<void> {
    if (this.held) return;
    if (this.failure !== undefined) throw this.failure;
    this.asking ??= (async () => {
      const pin = await this.ask();
      try {
        if (!(pin instanceof Uint8Array) || pin.length === 0 || pin.length > MAX_PIN_BYTES) {
          throw new CryptError('SCARD_E_INVALID_CHV', `the PIN must be 1 to ${MAX_PIN_BYTES} bytes; check the PIN file or what was typed`, { operation: 'conformance' });
        }
        if (isSecureMemoryAvailable()) {
          const secure = allocateSecure(pin.length);
          secure.write(0, pin);
          this.held = secure;
        } else {
          // Without the addon (not built) the copy is an ordinary buffer, still wiped at the end.
          this.held = Buffer.from(pin);
        }
        this.length = pin.length;
        if (this.verify) await this.verify(pin);
      } finally {
        zero(pin);
      }
    })();
    try {
      await this.asking;
    } catch (err) {
      this.failure = err;
      this.dispose();
      throw err;
    } finally {
      this.asking = undefined;
    }
  }

  /** A fresh copy of the PIN; the caller wipes it (see use()). */
  async copy(): Promise<Buffer> {
    await this.load();
    const held = this.held!;
    return Buffer.isBuffer(held) ? Buffer.from(held) : held.read(0, this.length);
  }

  async use<T>(fn: (pin: Uint8Array) => Promise<T>): Promise<T> {
    const pin = await this.copy();
    try {
      return await fn(pin);
    } finally {
      zero(pin);
    }
  }

  dispose(): void {
    const held = this.held;
    this.held = undefined;
    if (!held) return;
    if (Buffer.isBuffer(held)) zero(held);
    else held.free();
  }
}

/**
 * The UI installed for the run: PIN prompts for the target's card get the run's PIN, card prompts get
 * the target's reader. A prompt after a wrong PIN is cancelled: the run's PIN was refused, and asking
 * again with it would only use up the card's tries.
 */
export function runUserInterface(target: TargetIdentity, pin: RunPin): UserInterface {
  return {
    async selectCard(request: CardPromptRequest): Promise<CardPromptAnswer | null> {
      return request.candidates.some((c) => c.szReader === target.reader) ? { szReader: target.reader } : null;
    },
    async promptPin(request: PinPromptRequest): Promise<Uint8Array | null> {
      if (request.retry || request.card.serial !== target.serial || request.card.label !== target.label) return null;
      return pin.copy(); // the front end wipes what it is given
    },
  };
}

export interface CaseEvents {
  progress(text: string): void;
}

/** One case's context and the state its cleanup needs. */
export class CaseScope implements CaseContext {
  readonly notes: string[] = [];
  /** Container names this case was given; deleted after the case if they exist. */
  readonly containers: string[] = [];
  private readonly modules: CardModule[] = [];

  constructor(
    private readonly open: OpenTarget,
    readonly capabilities: TargetCapabilities,
    private readonly pin: RunPin,
    private readonly events: CaseEvents,
  ) {}

  get target(): TargetIdentity {
    return this.open.identity;
  }

  get service() {
    return this.open.service;
  }

  async cardModule(): Promise<CardModule> {
    const md = await acquireCardModule(this.open);
    this.modules.push(md);
    return md;
  }

  withPin<T>(use: (pin: Uint8Array) => Promise<T>): Promise<T> {
    return this.pin.use(use);
  }

  ownContainer(stem: string): string {
    // A cmapfile name holds at most 39 characters: prefix (12) + stem (<= 20) + '-' + 6 hex digits.
    const clean = String(stem).toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 20) || 'key';
    const name = `${OWN_CONTAINER_PREFIX}${clean}-${randomBytes(3).toString('hex')}`;
    this.containers.push(name);
    return name;
  }

  note(text: string): void {
    this.notes.push(String(text));
  }

  progress(text: string): void {
    this.events.progress(String(text));
  }

  /**
   * After the case: deletes the containers it named that exist (and nothing else), then every card
   * context it acquired. Returns problems as text; never throws (a cleanup failure must not stop the run).
   */
  async cleanUp(): Promise<string[]> {
    const problems: string[] = [];
    if (this.containers.length) {
      try {
        const deleted = await deleteOwnContainers(this.open, this.pin, this.containers);
        for (const name of deleted) this.notes.push(`cleanup: deleted its container "${name}"`);
      } catch (err) {
        problems.push(`could not delete the case's own containers (${this.containers.join(', ')}): ${(err as Error).message}`);
      }
    }
    for (const md of this.modules.splice(0)) {
      await md.CardDeleteContext().catch(() => undefined); // deleting a deleted context is harmless
    }
    return problems;
  }
}

/** A fresh minidriver context on the target's card. */
/**
 * The run PIN's one check: CardAuthenticatePin on a context of its own, then the card is
 * deauthenticated again, so the cases start from the state the token was in.
 */
export async function verifyRunPin(open: OpenTarget, pin: Uint8Array): Promise<void> {
  const md = await acquireCardModule(open);
  try {
    await md.CardAuthenticatePin(wszCARD_USER_USER, pin);
    await md.CardDeauthenticate(wszCARD_USER_USER);
  } finally {
    await md.CardDeleteContext().catch(() => undefined);
  }
}

export async function acquireCardModule(open: OpenTarget): Promise<CardModule> {
  const entry = await open.entry();
  return entry.driver.CardAcquireContext({ dwVersion: CARD_DATA_VERSION_SEVEN, hScard: entry.state.hScard });
}

/**
 * CardDeleteContainer for each of `names` the card's container map lists. Only names with the suite's
 * prefix are ever considered (a guard against a case passing another name). Logs in with the run's PIN
 * only when there is something to delete.
 */
export async function deleteOwnContainers(open: OpenTarget, pin: RunPin, names: readonly string[]): Promise<string[]> {
  const own = names.filter((n) => n.startsWith(OWN_CONTAINER_PREFIX));
  if (own.length === 0) return [];
  const md = await acquireCardModule(open);
  const deleted: string[] = [];
  try {
    let records = decodeCmapFile(await md.CardReadFile(szBASE_CSP_DIR, szCONTAINER_MAP_FILE));
    if (!own.some((n) => findContainer(records, n) >= 0)) return [];
    await pin.use((bytes) => md.CardAuthenticatePin(wszCARD_USER_USER, bytes));
    for (const name of own) {
      records = decodeCmapFile(await md.CardReadFile(szBASE_CSP_DIR, szCONTAINER_MAP_FILE));
      const index = findContainer(records, name);
      if (index < 0) continue;
      // The caller of a minidriver keeps cardcf, not the minidriver (the Base CSP's rule): without the
      // bump, a front end's cached container map would still list the deleted container.
      const cf = decodeCardCf(await md.CardReadFile(null, 'cardcf'));
      await md.CardWriteFile(null, 'cardcf', 0, encodeCardCf(bumpCardCf(cf, CARD_CACHE_CONTAINERS | CARD_CACHE_FILES)));
      await md.CardDeleteContainer(index, 0);
      deleted.push(name);
    }
  } finally {
    await md.CardDeleteContext().catch(() => undefined);
  }
  return deleted;
}
