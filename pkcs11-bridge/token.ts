import { CryptError } from '../minidriver/errors.js';
import { directAttributeReadStatus, getAttributeValueInto } from '../native/pkcs11-direct.js';
import { cardGone, maySignalRemoval, removedCardError } from './card-removal.js';
import { Dispatcher, type DispatchPolicy } from './dispatch.js';
import { isStaleHandle, toCryptError } from './errors.js';
import type { LoadedModule } from './module-registry.js';
import { ckrName, ckrOf, pk, type PKCS11, type Pkcs11Handle, type Template, type TokenInfo } from './pkcs11.js';
import { SessionPool } from './session-pool.js';

/** Who is authenticated to the token, for this application (PKCS#11 login is per application). */
export type LoginState = 'none' | 'user' | 'so';

/** The identity of a token, by which it is selected (never by slot ID, which differs per process). */
export interface TokenIdentity {
  label: string;
  serial: string;
  manufacturer: string;
  model: string;
}

export function tokenIdentity(info: TokenInfo): TokenIdentity {
  return {
    label: info.label.trimEnd(),
    serial: info.serialNumber.trimEnd(),
    manufacturer: info.manufacturerID.trimEnd(),
    model: info.model.trimEnd(),
  };
}

/** CK_STATE values (PKCS#11 §5.6); pkcs11js does not export them. */
const CKS_RO_USER_FUNCTIONS = 1;
const CKS_RW_USER_FUNCTIONS = 3;

/** Sessions we keep below the token's own maximum; enough to keep two cores busy with RSA. */
const DEFAULT_POOL_SIZE = 8;

/**
 * One token (card) of a loaded module, shared by every card context bound to it in this process:
 * its sessions, its login state and the dispatcher that places its calls.
 */
export class Token {
  readonly pkcs11: PKCS11;
  readonly identity: TokenIdentity;
  readonly sessions: SessionPool;
  readonly dispatcher: Dispatcher;
  /** Token flags at open (CKF_*). Re-read with `readInfo()` for PIN counters. */
  flags: number;
  login: LoginState = 'none';
  /** Bumped whenever private-key handles may have become invalid (logout, session loss). */
  loginEpoch = 0;
  private closed = false;
  /** Closed because the card left its slot (see failure()), not because its last user let go. */
  private removed = false;
  /**
   * Whether attributesKnownLength() reads in one module call through the native addon (built, and the
   * module found loaded in this process); else it is pkcs11js's two-call read. Decided when the token
   * is opened, so the module's C_GetFunctionList is asked then and never on a measured path.
   */
  private directReads: boolean;

  constructor(readonly module: LoadedModule, readonly slot: Pkcs11Handle, info: TokenInfo, policy?: DispatchPolicy) {
    this.pkcs11 = module.pkcs11;
    this.identity = tokenIdentity(info);
    this.flags = info.flags;
    const tokenMax = info.maxSessionCount > 0 && info.maxSessionCount < 0xffffffff ? info.maxSessionCount : Infinity;
    this.sessions = new SessionPool(this.pkcs11, slot, Math.max(1, Math.min(DEFAULT_POOL_SIZE, tokenMax - 1)));
    this.dispatcher = new Dispatcher(policy);
    this.directReads = directAttributeReadStatus(module.path) === null;
  }

  /** Whether reads of known length take one module call (the native addon), for diagnostics and tests. */
  get oneCallReads(): boolean {
    return this.directReads;
  }

  get name(): string {
    return this.identity.label;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Fresh token information (flags carry the PIN counters). */
  readInfo(): TokenInfo {
    const info = this.pkcs11.C_GetTokenInfo(this.slot);
    this.flags = info.flags;
    return info;
  }

  /**
   * Runs synchronous token calls on the anchor session. A dead anchor (card reset, session lost) is
   * re-opened once and the work retried before an error surfaces; login is lost with it. `arg` is
   * handed to `work`, so that a hot caller can pass one long-lived function instead of a new closure.
   */
  sync<T, A = undefined>(operation: string, work: (session: Pkcs11Handle, arg: A) => T, container?: string, arg?: A): T {
    this.assertOpen(operation);
    try {
      return work(this.sessions.anchor, arg as A);
    } catch (err) {
      const rv = ckrOf(err);
      if (rv === pk.CKR_SESSION_HANDLE_INVALID || rv === pk.CKR_SESSION_CLOSED) {
        this.sessionLost();
        try {
          return work(this.sessions.reopenAnchor(), arg as A);
        } catch (again) {
          throw this.failure(again, operation, container);
        }
      }
      throw this.failure(err, operation, container);
    }
  }

  /** Runs one asynchronous operation on a pooled session of its own. */
  async pooled<T>(operation: string, work: (session: Pkcs11Handle) => Promise<T>, container?: string): Promise<T> {
    this.assertOpen(operation);
    let session: Pkcs11Handle;
    try {
      session = await this.sessions.acquire(); // opening a new session is the first call to meet a pulled card
    } catch (err) {
      throw this.failure(err, operation, container);
    }
    try {
      const result = await work(session);
      this.sessions.release(session);
      return result;
    } catch (err) {
      const rv = ckrOf(err);
      if (rv === pk.CKR_SESSION_HANDLE_INVALID || rv === pk.CKR_SESSION_CLOSED) this.sessions.discard(session);
      else this.sessions.release(session);
      throw this.failure(err, operation, container);
    }
  }

  /**
   * The CryptError for a failed token call. When the card turns out to have left its slot, the token is
   * closed: every context on it then answers SCARD_W_REMOVED_CARD without touching dead sessions, and
   * the next CardAcquireContext (after reinsertion) opens fresh state instead of reusing this one.
   */
  private failure(err: unknown, operation: string, container?: string): CryptError {
    if (maySignalRemoval(err) && cardGone(this.pkcs11, this.slot, this.identity)) {
      this.removed = true;
      this.close();
      return removedCardError(operation, this.name, err);
    }
    return toCryptError(err, { operation, card: this.name, container });
  }

  /** Handles of all objects matching a template. */
  find(session: Pkcs11Handle, template: Template, max = 1000): Pkcs11Handle[] {
    this.pkcs11.C_FindObjectsInit(session, template);
    try {
      return this.pkcs11.C_FindObjects(session, max);
    } finally {
      this.pkcs11.C_FindObjectsFinal(session);
    }
  }

  /** Attribute values in template order, as raw Buffers. */
  attributes(session: Pkcs11Handle, object: Pkcs11Handle, types: number[]): Buffer[] {
    const result = this.pkcs11.C_GetAttributeValue(session, object, types.map((type) => ({ type })));
    return result.map((a) => a.value as Buffer);
  }

  /**
   * Attribute values in template order when their lengths are expected: one C_GetAttributeValue with
   * buffers of those lengths (pkcs11js always makes two: lengths, then values). A value shorter than
   * expected comes back at its real length. When a value does not fit (CKR_BUFFER_TOO_SMALL) or the
   * native path is not available for this module, pkcs11js's two-call read gives the answer. Any other
   * CK_RV is thrown as the pkcs11js Pkcs11Error it would have been, so errors map (toCryptError) and
   * stale handles are recognised (isStaleHandle) exactly as for the other token calls.
   */
  attributesKnownLength(session: Pkcs11Handle, object: Pkcs11Handle, expected: { type: number; length: number }[]): Buffer[] {
    if (this.directReads) {
      const values = expected.map((e) => Buffer.alloc(e.length));
      const { rv, lengths } = getAttributeValueInto(this.module.path, session, object, expected.map((e, i) => ({ type: e.type, value: values[i]! })));
      if (rv === pk.CKR_OK) {
        // A conforming module leaves each length within its buffer; anything else is read again below.
        if (lengths.every((n, i) => n >= 0 && n <= values[i]!.length)) {
          return values.map((v, i) => (lengths[i] === v.length ? v : v.subarray(0, lengths[i])));
        }
      } else if (rv !== pk.CKR_BUFFER_TOO_SMALL) {
        throw new pk.Pkcs11Error(`${ckrName(rv)}:${rv}`, rv, 'C_GetAttributeValue');
      }
    }
    return this.attributes(session, object, expected.map((e) => e.type));
  }

  /**
   * OAEP variants ("SHA256", "SHA256+label") this token refused at C_DecryptInit. PKCS#11 has no query
   * for mechanism parameters (SoftHSM2 2.6 takes only SHA-1 without a label), so the first refusal is
   * remembered and later calls go straight to the fallback.
   */
  readonly oaepRefused = new Set<string>();

  private objectQueue: Promise<unknown> = Promise.resolve();

  /**
   * Runs the calls that create, destroy or search token objects one at a time for this token. SoftHSM2's
   * file object store is not safe against a key generation on a worker thread while another thread
   * lists or creates objects (seen: CKR_GENERAL_ERROR, lost objects, and SIGSEGV with plain pkcs11js
   * too). Signing and decryption with an open key do not go through here and stay concurrent.
   */
  exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.objectQueue.then(work, work);
    this.objectQueue = run.catch(() => undefined);
    return run;
  }

  /** Whether the session is in a user state (one C_GetSessionInfo; used only on failure paths). */
  isLoggedIn(session: Pkcs11Handle): boolean {
    try {
      const state = this.pkcs11.C_GetSessionInfo(session).state;
      return state === CKS_RO_USER_FUNCTIONS || state === CKS_RW_USER_FUNCTIONS;
    } catch {
      return false;
    }
  }

  /** Marks login state lost after the anchor died: PKCS#11 logs out when the last session closes. */
  sessionLost(): void {
    this.login = 'none';
    this.loginEpoch++;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.sessions.close();
  }

  private assertOpen(operation: string): void {
    if (this.removed) throw removedCardError(operation, this.name, undefined);
    if (this.closed) throw new CryptError('SCARD_E_INVALID_HANDLE', 'the card context was closed; acquire a new one', { operation, card: this.name });
  }
}

/** Whether an error from a token call means a cached handle should be looked up again. */
export function shouldRetryWithFreshHandle(err: unknown): boolean {
  return isStaleHandle(ckrOf(err));
}
