// SoftHSM2 rig: a private token store for the test process, with tokens made by softhsm2-util.
//
// One process = one SoftHSM2 configuration. libsofthsm2.so reads SOFTHSM2_CONF once, at
// C_Initialize, and every loader of the .so in the process (our pkcs11js code, graphene-pk11, the
// pin-counter shim) shares that one initialised library instance. So the rig is a per-process
// singleton: SoftHsmRig.shared() returns the one store, createSoftHsm() and addToken() add tokens
// to it, and nothing ever writes a second softhsm2.conf.
//
// Make tokens BEFORE the module is first C_Initialize'd in this process: SoftHSM2 builds its slot
// list at C_Initialize. Measured on SoftHSM 2.6.1 (selftest softhsm.test.ts, in a child process):
// a token added later by softhsm2-util is not listed by C_GetSlotList; the in-process library keeps
// showing the old free slot as uninitialised, until C_Finalize + C_Initialize, which then lists it
// (existing tokens keep their slot IDs). Objects that other processes (pkcs11-tool) create on an
// existing token DO show up without re-initialising. With mocha, call createSoftHsm()/addToken()
// at the top level of a test file (module evaluation happens for every file before any hook runs).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const SOFTHSM2_MODULE = '/usr/lib/softhsm/libsofthsm2.so';

export interface SoftHsmTokenSpec {
  label: string;
  /** Default: 16 random hex characters. */
  pin?: string;
  /** Default: 16 random hex characters. */
  soPin?: string;
}

export interface SoftHsmToken {
  label: string;
  pin: string;
  soPin: string;
  /** CKA token serial as C_GetTokenInfo reports it (padding trimmed). Stable for the token's life. */
  serial: string;
  /** SoftHSM2's slot ID for this token (derived from the serial). Prefer label/serial lookups. */
  slotId: number;
}

export interface CreateSoftHsmOptions {
  tokens: SoftHsmTokenSpec[];
}

/** Creates the tokens in the process's one SoftHSM2 store and returns the store. */
export function createSoftHsm(options?: CreateSoftHsmOptions): SoftHsmRig {
  const rig = SoftHsmRig.shared();
  for (const spec of options?.tokens ?? []) rig.addToken(spec);
  return rig;
}

export class SoftHsmRig {
  private static instance: SoftHsmRig | undefined;

  readonly modulePath = SOFTHSM2_MODULE;
  readonly dir: string;
  readonly confPath: string;
  private readonly tokenList: SoftHsmToken[] = [];
  private removed = false;

  /** The process's one store; the first call makes the directory and points SOFTHSM2_CONF at it. */
  static shared(): SoftHsmRig {
    SoftHsmRig.instance ??= new SoftHsmRig();
    return SoftHsmRig.instance;
  }

  /**
   * A store of its own, for tests whose child processes list every token of the store they see (the
   * CLI's `cards` opens each card, and opening a fresh token writes its card file system): other
   * suites' tokens in the shared store must not be touched. Only child processes given env() see it;
   * this process's SoftHSM2 stays on the shared store.
   */
  static private(): SoftHsmRig {
    return new SoftHsmRig(false);
  }

  private constructor(shared = true) {
    this.dir = mkdtempSync(join(tmpdir(), 'p11ksp-softhsm-'));
    const tokenDir = join(this.dir, 'tokens');
    mkdirSync(tokenDir);
    this.confPath = join(this.dir, 'softhsm2.conf');
    writeFileSync(this.confPath, [
      `directories.tokendir = ${tokenDir}`,
      'objectstore.backend = file',
      'log.level = ERROR',
      '',
    ].join('\n'));
    // Set before anything in the process C_Initializes SoftHSM2; children (softhsm2-util,
    // pkcs11-tool, p11-kit server) inherit it too.
    if (shared) process.env.SOFTHSM2_CONF = this.confPath;
    process.on('exit', () => this.cleanup());
  }

  get tokens(): readonly SoftHsmToken[] {
    return this.tokenList;
  }

  token(label: string): SoftHsmToken {
    const token = this.tokenList.find((t) => t.label === label);
    if (!token) throw new Error(`SoftHSM rig has no token "${label}"`);
    return token;
  }

  /**
   * Initialises a token in the next free slot. Visible to a process that C_Initializes SoftHSM2
   * afterwards (including child processes); NOT to an already initialised module in this process
   * until it is finalised and initialised again (see the header).
   */
  addToken(spec: SoftHsmTokenSpec): SoftHsmToken {
    if (this.removed) throw new Error('SoftHSM rig was cleaned up');
    if (Buffer.byteLength(spec.label) > 32) throw new Error(`token label longer than 32 bytes: "${spec.label}"`);
    if (this.tokenList.some((t) => t.label === spec.label)) throw new Error(`token "${spec.label}" exists`);
    const pin = spec.pin ?? randomBytes(8).toString('hex');
    const soPin = spec.soPin ?? randomBytes(8).toString('hex');
    const out = this.util(['--init-token', '--free', '--label', spec.label, '--pin', pin, '--so-pin', soPin]);
    const match = /reassigned to slot (\d+)/.exec(out);
    if (!match) throw new Error(`softhsm2-util did not report the new slot:\n${out}`);
    const slotId = Number(match[1]);
    const token: SoftHsmToken = { label: spec.label, pin, soPin, serial: this.serialOfSlot(slotId), slotId };
    this.tokenList.push(token);
    return token;
  }

  /** Environment for child processes that must see this store. */
  env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return { ...process.env, SOFTHSM2_CONF: this.confPath, ...extra };
  }

  /** Removes the store. Runs on process exit by itself; loaded modules must be finalised first. */
  cleanup(): void {
    if (this.removed) return;
    this.removed = true;
    rmSync(this.dir, { recursive: true, force: true });
    if (SoftHsmRig.instance === this) SoftHsmRig.instance = undefined;
  }

  private util(args: string[]): string {
    try {
      return execFileSync('softhsm2-util', args, { env: this.env(), encoding: 'utf8', stdio: 'pipe' });
    } catch (error) {
      const e = error as { stderr?: string; stdout?: string; message: string };
      throw new Error(`softhsm2-util ${args[0]} failed: ${e.stderr || e.stdout || e.message}`);
    }
  }

  /** Serial from `softhsm2-util --show-slots`: one block per slot, "Slot <id>" then indented info. */
  private serialOfSlot(slotId: number): string {
    const blocks = this.util(['--show-slots']).split(/^Slot /m).slice(1);
    const block = blocks.find((b) => b.startsWith(`${slotId}\n`));
    const serial = block && /Serial number:[ \t]*(\S*)/.exec(block);
    if (!serial?.[1]) throw new Error(`softhsm2-util --show-slots has no serial for slot ${slotId}`);
    return serial[1];
  }
}

