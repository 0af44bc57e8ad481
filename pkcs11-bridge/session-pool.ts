import { pk, type PKCS11, type Pkcs11Handle } from './pkcs11.js';

/**
 * The sessions of one token. PKCS#11 allows one operation per session at a time, and closing the
 * last session of a token logs the application out and invalidates its private-key handles. So:
 *
 * - the anchor session stays open for the token's life; synchronous calls use it (nothing else can
 *   run on the JavaScript thread while a synchronous call is in progress);
 * - asynchronous calls, which run on libuv's worker threads, each check out a session of their own
 *   from a bounded pool, so concurrent work spreads over the token without CKR_OPERATION_ACTIVE.
 */
export class SessionPool {
  private anchorHandle: Pkcs11Handle;
  private readonly idle: Pkcs11Handle[] = [];
  private readonly waiting: ((session: Pkcs11Handle) => void)[] = [];
  private opened = 0;
  private closed = false;

  constructor(
    private readonly pkcs11: PKCS11,
    private readonly slot: Pkcs11Handle,
    /** Upper bound on pooled sessions (the token's maximum, less the anchor). */
    private readonly maxPooled: number,
  ) {
    this.anchorHandle = this.openSession();
  }

  /** The long-lived session for synchronous calls. */
  get anchor(): Pkcs11Handle {
    return this.anchorHandle;
  }

  /** Replaces a dead anchor (card reset, module re-initialised). Login state is lost with it. */
  reopenAnchor(): Pkcs11Handle {
    try { this.pkcs11.C_CloseSession(this.anchorHandle); } catch { /* already dead */ }
    this.anchorHandle = this.openSession();
    return this.anchorHandle;
  }

  /** Checks out a session for one asynchronous operation; waits when all are busy. */
  acquire(): Promise<Pkcs11Handle> | Pkcs11Handle {
    const session = this.idle.pop();
    if (session) return session;
    if (this.opened < this.maxPooled) {
      this.opened++;
      try {
        return this.openSession();
      } catch (err) {
        this.opened--;
        throw err;
      }
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** Returns a session after its operation finished (successfully or not). */
  release(session: Pkcs11Handle): void {
    if (this.closed) {
      try { this.pkcs11.C_CloseSession(session); } catch { /* token gone */ }
      return;
    }
    const next = this.waiting.shift();
    if (next) next(session);
    else this.idle.push(session);
  }

  /** Drops a pooled session that turned out dead, so the pool can open a fresh one. */
  discard(session: Pkcs11Handle): void {
    try { this.pkcs11.C_CloseSession(session); } catch { /* already dead */ }
    this.opened--;
  }

  /** Number of sessions open, anchor included. */
  get sessionCount(): number {
    return 1 + this.opened;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const session of this.idle.splice(0)) {
      try { this.pkcs11.C_CloseSession(session); } catch { /* token gone */ }
    }
    try { this.pkcs11.C_CloseSession(this.anchorHandle); } catch { /* token gone */ }
  }

  private openSession(): Pkcs11Handle {
    return this.pkcs11.C_OpenSession(this.slot, pk.CKF_SERIAL_SESSION | pk.CKF_RW_SESSION);
  }
}
