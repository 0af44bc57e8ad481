import { performance } from 'node:perf_hooks';
import { CryptError } from '../minidriver/errors.js';
import { DIRECT_DECRYPT, DIRECT_SIGN, type DirectOperation } from '../native/pkcs11-direct.js';
import type { LatencyEstimate } from './dispatch.js';
import { isStaleHandle } from './errors.js';
import { heldPrivateHandle, type KeyPair } from './key-pairs.js';
import { ckrName, type Mechanism, pk, type PKCS11, type Pkcs11Handle } from './pkcs11.js';
import type { Token } from './token.js';

/** The token functions of one kind of single-part operation: Init, then the call in one piece. */
export interface OneShotCalls {
  /** The same two calls in one native crossing (LoadedModule.singlePart), for mechanisms without parameters. */
  direct: DirectOperation;
  /** For errors from the direct path, which reports the CK_RV but not which of the two calls failed. */
  names: string;
  init(pkcs11: PKCS11, session: Pkcs11Handle, mechanism: Mechanism, key: Pkcs11Handle): void;
  call(pkcs11: PKCS11, session: Pkcs11Handle, data: Buffer, output: Buffer): Buffer;
  callAsync(pkcs11: PKCS11, session: Pkcs11Handle, data: Buffer, output: Buffer): Promise<Buffer>;
}

export const SIGN_CALLS: OneShotCalls = {
  direct: DIRECT_SIGN,
  names: 'C_SignInit/C_Sign',
  init: (p, s, m, k) => p.C_SignInit(s, m, k),
  call: (p, s, d, o) => p.C_Sign(s, d, o),
  callAsync: (p, s, d, o) => p.C_SignAsync(s, d, o),
};

export const DECRYPT_CALLS: OneShotCalls = {
  direct: DIRECT_DECRYPT,
  names: 'C_DecryptInit/C_Decrypt',
  init: (p, s, m, k) => p.C_DecryptInit(s, m, k),
  call: (p, s, d, o) => p.C_Decrypt(s, d, o),
  callAsync: (p, s, d, o) => p.C_DecryptAsync(s, d, o),
};

/** What one operation hands the token, and what becomes of the answer. */
export interface OneShotInput {
  mechanism: Mechanism;
  data: Buffer;
  /** Size of the output buffer (the token returns a view of the part it filled). */
  outputBytes: number;
  /** Turns the token's output into the result; a plain function, not a closure made per call. */
  finish: (output: Buffer) => Buffer;
  /** For error messages. */
  container: string;
}

/** Inline runs in the fast band are timed one in this many. */
const TIME_ONE_INLINE_IN = 8;

/**
 * Single-part operations of one kind (sign, decrypt) with one private key: Init + one call, the two
 * calls PKCS#11 cannot avoid. Made once per key pair and kind and kept with the pair, so that a warm
 * operation makes no closures and reads the held key handle directly: on a fast key (ECDSA P-256 on
 * SoftHSM2, ~75 µs) every object, indirect call and clock read of the path is a measurable share
 * (the key look-up through a closure alone cost 1 % of such a signature, in-process A/B).
 *
 * Placement (inline or pool) comes from the token's dispatcher and this kind's latency estimate. A run
 * on the pool is timed whenever it runs alone, an inline run in the middle band always (so that an
 * estimate leaves the band quickly), one in the fast band one time in TIME_ONE_INLINE_IN, which still
 * follows a key that gets slower within a few operations. A key handle that went stale is looked
 * up again once before the error surfaces.
 */
export class OneShot {
  private untimedInline = 0;

  constructor(
    private readonly token: Token,
    readonly operation: string,
    private readonly calls: OneShotCalls,
    private readonly estimate: LatencyEstimate,
    /** The key pair: its private handle, while valid for this login, is used as it is. */
    private readonly pair: KeyPair,
    /** Finds the private key on the token (when the held handle is missing or stale), or throws. */
    private readonly lookUpKey: (session: Pkcs11Handle, container: string) => Pkcs11Handle,
  ) {}

  private key(session: Pkcs11Handle, container: string): Pkcs11Handle {
    return heldPrivateHandle(this.token, this.pair) ?? this.lookUpKey(session, container);
  }

  private forgetKey(): void {
    this.pair.privateHandle = undefined;
  }

  run(input: OneShotInput): Promise<Buffer> {
    const dispatcher = this.token.dispatcher;
    switch (dispatcher.place(this.estimate)) {
      case 'inline':
        try { return Promise.resolve(this.inline(input, ++this.untimedInline >= TIME_ONE_INLINE_IN)); } catch (err) { return Promise.reject(err); }
      case 'batch':
        return dispatcher.runBatched(() => this.inline(input, true), () => this.pooled(input));
      default:
        return dispatcher.track(this.pooled(input));
    }
  }

  private inline(input: OneShotInput, timed: boolean): Buffer {
    if (!timed) return this.inlineWithFreshKey(input);
    this.untimedInline = 0;
    const started = performance.now();
    const result = this.inlineWithFreshKey(input);
    this.estimate.record(performance.now() - started);
    return result;
  }

  private inlineWithFreshKey(input: OneShotInput): Buffer {
    try {
      return this.token.sync(this.operation, this.once, input.container, input);
    } catch (err) {
      if (!staleKeyError(err)) throw err;
      this.forgetKey();
      return this.token.sync(this.operation, this.once, input.container, input);
    }
  }

  /**
   * One inline run on the anchor session (one function for the object's life: no closure per call).
   * Through the native addon when the module allows it and the mechanism takes no parameter: the
   * same two token calls, a pkcs11js-shaped error when one fails.
   */
  private readonly once = (session: Pkcs11Handle, input: OneShotInput): Buffer => {
    const token = this.token;
    const key = this.key(session, input.container);
    const output = Buffer.allocUnsafe(input.outputBytes);
    const direct = token.module.singlePart;
    if (direct !== undefined && input.mechanism.parameter === undefined) {
      const length = direct(this.calls.direct, session, input.mechanism.mechanism, key, input.data, output);
      if (length < 0) throw new pk.Pkcs11Error(`${ckrName(-length)}:${-length}`, -length, this.calls.names);
      return input.finish(length === output.length ? output : output.subarray(0, length));
    }
    this.calls.init(token.pkcs11, session, input.mechanism, key);
    return input.finish(this.calls.call(token.pkcs11, session, input.data, output));
  };

  private async pooled(input: OneShotInput): Promise<Buffer> {
    try {
      return await this.pooledOnce(input);
    } catch (err) {
      if (!staleKeyError(err)) throw err;
      this.forgetKey();
      return this.pooledOnce(input);
    }
  }

  /** Timed from the moment a session is in hand, and only when running alone, so that queueing and
   * contention in a burst do not make the operation look slow. */
  private pooledOnce(input: OneShotInput): Promise<Buffer> {
    return this.token.pooled(this.operation, async (session) => {
      const pkcs11 = this.token.pkcs11;
      const started = performance.now();
      this.calls.init(pkcs11, session, input.mechanism, this.key(session, input.container));
      const output = await this.calls.callAsync(pkcs11, session, input.data, Buffer.allocUnsafe(input.outputBytes));
      if (this.token.dispatcher.inFlightCount <= 1) this.estimate.record(performance.now() - started);
      return input.finish(output);
    }, input.container);
  }
}

function staleKeyError(err: unknown): boolean {
  return err instanceof CryptError && isStaleHandle(err.nativeCode);
}
