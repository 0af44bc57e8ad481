/**
 * Secure memory for secrets (the PIN cache): page-aligned memory that is
 * mlock'ed (kept out of swap), marked MADV_DONTDUMP (kept out of core dumps),
 * MADV_WIPEONFORK where the kernel has it, surrounded by guard pages, and
 * wiped with explicit_bzero on wipe(), free() and garbage collection.
 *
 * The memory lives in the native addon `p11ksp_secure_memory`
 * (binding.gyp at the package root, built by `npm run build:native`).
 * There is deliberately no JavaScript fallback: if the addon is missing,
 * allocateSecure() and wipe() throw. Use isSecureMemoryAvailable() to ask first.
 *
 * The same addon also makes one-call PKCS#11 attribute reads on modules pkcs11js loaded: see
 * ./pkcs11-direct.ts (that part does have a fallback: pkcs11js).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';

/** Shape of one native SecureBuffer object. */
interface NativeSecureBuffer {
  readonly size: number;
  readonly locked: boolean;
  readonly dumpExcluded: boolean;
  readonly wipeOnFork: boolean;
  readonly freed: boolean;
  readonly address: string | null;
  write(offset: number, data: Uint8Array): void;
  read(offset: number, length: number): Buffer;
  wipe(): void;
  free(): void;
}

/** Shape of the addon's exports (the PKCS#11 part is wrapped by ./pkcs11-direct.ts). */
export interface NativeAddon {
  SecureBuffer: new (size: number) => NativeSecureBuffer;
  wipeBuffer(buffer: ArrayBufferView | ArrayBuffer): void;
  readonly pageSize: number;
  readonly maxSize: number;
  probePkcs11Module(modulePath: string): string | null;
  getAttributeValueInto(
    modulePath: string,
    session: Buffer | number,
    object: Buffer | number,
    templates: { type: number; value: Uint8Array }[],
  ): { rv: number; lengths: number[] };
  pkcs11ModuleIndex(modulePath: string): number;
  singlePartInto(
    moduleIndex: number,
    operation: number,
    session: Buffer | number,
    mechanismType: number,
    key: Buffer | number,
    input: Uint8Array,
    output: Uint8Array,
  ): number;
}

const ADDON_NAME = 'p11ksp_secure_memory';

/** Directory of the p11-ksp package: the nearest ancestor holding package.json and binding.gyp. */
function packageRoot(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'binding.gyp'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/** Where the addon is expected: <package root>/build/Release/p11ksp_secure_memory.node. */
export function secureMemoryAddonPath(): string | undefined {
  const root = packageRoot();
  return root === undefined ? undefined : join(root, 'build', 'Release', `${ADDON_NAME}.node`);
}

let addon: NativeAddon | undefined;
let loadError: Error | undefined;

/** The addon's raw exports, for the other modules of native/ (throws when it is not built). */
export function loadNativeAddon(): NativeAddon {
  return load();
}

function load(): NativeAddon {
  if (addon !== undefined) return addon;
  if (loadError !== undefined) throw loadError;
  const path = secureMemoryAddonPath();
  try {
    if (path === undefined) {
      throw new Error('package root (package.json beside binding.gyp) not found');
    }
    if (!existsSync(path)) throw new Error(`${path} does not exist`);
    const require = createRequire(import.meta.url);
    addon = require(path) as NativeAddon;
    return addon;
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    loadError = new Error(
      `p11-ksp secure memory addon (${ADDON_NAME}.node) is not available: ${reason}. ` +
        'Build it with `npm run build:native` (node-gyp rebuild; needs a C++17 compiler, make and python3).',
      { cause },
    );
    throw loadError;
  }
}

/** True when the native addon is built and loads; never throws. */
export function isSecureMemoryAvailable(): boolean {
  try {
    load();
    return true;
  } catch {
    return false;
  }
}

/**
 * A block of locked, non-dumpable memory of a fixed size. Read copies out are
 * ordinary Buffers: wipe them with {@link wipe} once used. Call free() when
 * done; if the object is collected first, the native finalizer wipes and
 * unmaps the memory anyway.
 */
export class SecureBuffer {
  readonly #native: NativeSecureBuffer;

  /** Allocates `size` bytes (1 ..= 64 MiB), zero-filled. Throws if the addon is not built. */
  constructor(size: number) {
    const { SecureBuffer: Native } = load();
    this.#native = new Native(size);
  }

  /** Usable size in bytes, as requested. */
  get size(): number {
    return this.#native.size;
  }

  /** The pages are mlock'ed. False when mlock was refused (RLIMIT_MEMLOCK without CAP_IPC_LOCK), or after free(). */
  get locked(): boolean {
    return this.#native.locked;
  }

  /** The pages are excluded from core dumps (MADV_DONTDUMP / MADV_NOCORE). */
  get dumpExcluded(): boolean {
    return this.#native.dumpExcluded;
  }

  /** A forked child sees the pages zeroed (MADV_WIPEONFORK, Linux 4.14+). */
  get wipeOnFork(): boolean {
    return this.#native.wipeOnFork;
  }

  /** free() has been called. */
  get freed(): boolean {
    return this.#native.freed;
  }

  /** Start address of the data pages as a hex string ("0x7f..."), null after free(). For tests and diagnostics. */
  get address(): string | null {
    return this.#native.address;
  }

  /** Copies `data` in at `offset`. RangeError if it does not fit; nothing is written then. */
  write(offset: number, data: Uint8Array): void {
    this.#native.write(offset, data);
  }

  /** Returns a new Buffer with a copy of `length` bytes from `offset`. The caller must wipe() it. */
  read(offset: number, length: number): Buffer {
    return this.#native.read(offset, length);
  }

  /** Zeroes the whole block (explicit_bzero). */
  wipe(): void {
    this.#native.wipe();
  }

  /** Wipes, unlocks and unmaps the block. Idempotent; any later read/write/wipe throws. */
  free(): void {
    this.#native.free();
  }

  /** `using buf = allocateSecure(n)` frees at the end of the scope. */
  [Symbol.dispose](): void {
    this.free();
  }

  /** Never shows contents. */
  [inspect.custom](): string {
    if (this.freed) return 'SecureBuffer <freed>';
    return `SecureBuffer { size: ${this.size}, locked: ${this.locked}, dumpExcluded: ${this.dumpExcluded} }`;
  }
}

/** Allocates a {@link SecureBuffer} of `size` bytes. Throws if the addon is not built. */
export function allocateSecure(size: number): SecureBuffer {
  return new SecureBuffer(size);
}

/**
 * Zeroes exactly the bytes a view covers (explicit_bzero, which the compiler
 * and JIT cannot drop), e.g. a PIN copy from SecureBuffer.read() or a
 * temporary Buffer. Accepts any TypedArray/Buffer, DataView or ArrayBuffer.
 */
export function wipe(buf: ArrayBufferView | ArrayBuffer): void {
  load().wipeBuffer(buf);
}

/** System page size as seen by the addon. */
export function securePageSize(): number {
  return load().pageSize;
}
