// Virtual smart card rig: a real PC/SC stack of the test's own, with an emulated CAC card in it.
//
//   OpenSC's PKCS#11 module (in the test process) -> libpcsclite -> a private pcscd
//     -> vsmartcard's vpcd reader driver -> TCP -> vcard-glue (virtual-card/vcard-glue.c)
//     -> libcacard's software CAC card over an NSS database made here, at test time.
//
// Privacy. pcsc-lite 1.9.9 hard-codes /run/pcscd (pid file, "already running" check, socket), and
// vpcd listens on TCP ports (one per slot: 35963 and 35964) on every address. So pcscd runs under
// `unshare --mount --net`: in its own mount namespace a private directory is bind-mounted over /run
// (pcscd's /run/pcscd/pcscd.comm is <runDir>/pcscd/pcscd.comm for everybody else), and in its own
// network namespace vpcd's ports are reachable only by the glue, which joins that namespace with
// `nsenter --net=/proc/<pcscd>/ns/net`. Nothing listens on the machine's network, no port can
// collide, and the system's pcscd (if any) is untouched. Clients in the test process reach the
// private pcscd through PCSCLITE_CSOCK_NAME: path-based unix sockets work across network namespaces.
//
// One rig at a time per process. libpcsclite reads PCSCLITE_CSOCK_NAME once, at the process's first
// SCardEstablishContext (OpenSC's C_Initialize), and keeps it, so the socket path is fixed per
// process (<tmpdir>/p11ksp-pcsc-<pid>/run/pcscd/pcscd.comm) and reused by every rig this process
// starts; start() sets it in process.env before anything loads OpenSC. Start the rig in a before()
// hook, load OpenSC after it, C_Finalize OpenSC before stop().
//
// Processes: pcscd (setpriv --pdeathsig TERM, unshare and sh all exec, so the PID is pcscd's) and the
// glue (nsenter execs it), both children of this process, both stopped by PID in stop(), killed at
// process exit if a test forgot, and given SIGTERM by the kernel if this process dies first.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomInt, X509Certificate, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { findRepoRoot } from './repo-root.js';

const execFileAsync = promisify(execFile);

export const OPENSC_MODULE = '/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so';
export const VPCD_DRIVER = '/usr/lib/pcsc/drivers/serial/libifdvpcd.so';
/** Relative to the repository root. `make -C test/rigs/virtual-card` builds the glue there. */
export const VCARD_GLUE_DIR = 'test/rigs/virtual-card';
const VCARD_GLUE_NAME = 'vcard-glue';
/** The reader.conf FRIENDLYNAME; pcscd names vpcd's first slot "<name> 00 00". */
const READER_FRIENDLY_NAME = 'p11ksp vpcd';
const VPCD_PORT = 0x8c7b; // vpcd's default; private to pcscd's network namespace
const CARD_TIMEOUT_MS = 20_000;

export interface VirtualCardOptions {
  /** Key pairs (with certificates) on the card, 1..3 (libcacard's CAC has three slots). Default 3. */
  keys?: number;
  /** RSA modulus bits. Default 2048. */
  keyBits?: number;
  /** Wrong PINs before the card blocks. Default 3. */
  maxTries?: number;
  /** The user PIN, 4..8 characters (OpenSC's CAC limits). Default: 8 random digits. */
  pin?: string;
  /** Let the glue log APDU headers and status words to stderr (never data). */
  verbose?: boolean;
}

export interface VirtualCardKey {
  /** CKA_ID as OpenSC reports it for the CAC slot: "0001", "0002", "0003". */
  id: string;
  /** NSS nickname in the card's database. */
  nickname: string;
  /** Subject common name of the certificate. */
  commonName: string;
  certPem: string;
  certificate: X509Certificate;
  publicKey: KeyObject;
}

export type VirtualCardEvent = string;

/** A CA-issued test card. See the file header. */
export class VirtualCard {
  readonly modulePath = OPENSC_MODULE;
  /** Token label as OpenSC reports it (the first certificate's common name). */
  label = '';
  /** Token serial as OpenSC reports it. */
  serial = '';
  /** The card's ATR, upper-case hex without spaces. */
  atr = '';
  /** pcscd's reader name for the card's slot. */
  readonly readerName = `${READER_FRIENDLY_NAME} 00 00`;
  readonly wrongPinTriesMax: number;
  readonly keys: VirtualCardKey[] = [];
  /** The issuing CA's certificate (not on the card). */
  caCertPem = '';
  /** Milliseconds from start() to a card that OpenSC sees. */
  startupMs = 0;
  /** Is the card in the reader (as far as remove()/insert() have gone)? */
  inserted = false;

  private pcscd?: ChildProcess;
  private glue?: ChildProcess;
  private readonly events: VirtualCardEvent[] = [];
  private readonly waiters = new Set<() => void>();
  private readonly diagnostics: string[] = [];
  private stopped = false;
  private readonly exitHook = () => this.killNow();

  private constructor(
    readonly pin: string,
    readonly dir: string,
    /** Mounted over /run in pcscd's namespace (fixed per process, see the header). */
    readonly runDir: string,
    private readonly options: Required<Omit<VirtualCardOptions, 'pin'>>,
  ) {
    this.wrongPinTriesMax = options.maxTries;
  }

  /** Socket of the private pcscd (PCSCLITE_CSOCK_NAME). */
  get socketPath(): string {
    return join(this.runDir, 'pcscd', 'pcscd.comm');
  }

  /** Environment for child processes (pkcs11-tool, opensc-tool) that must reach this card. */
  get env(): Record<string, string> {
    return { PCSCLITE_CSOCK_NAME: this.socketPath };
  }

  /** PIDs of the processes this rig started (pcscd, glue), for tests that check cleanup. */
  get pids(): number[] {
    return [this.pcscd?.pid, this.glue?.pid].filter((pid): pid is number => pid !== undefined);
  }

  /** Events reported by the glue so far (see vcard-glue.c), e.g. "pin-wrong tries-left=2". */
  get glueEvents(): readonly VirtualCardEvent[] {
    return this.events;
  }

  static async start(options: VirtualCardOptions = {}): Promise<VirtualCard> {
    if (running && !running.stopped) throw new Error('a virtual card rig is already running in this process (one at a time)');
    const keyCount = options.keys ?? 3;
    if (!Number.isInteger(keyCount) || keyCount < 1 || keyCount > 3) throw new Error('keys must be 1, 2 or 3');
    const pin = options.pin ?? String(randomInt(0, 100_000_000)).padStart(8, '0');
    if (pin.length < 4 || pin.length > 8) throw new Error('a CAC PIN has 4 to 8 characters');
    checkVirtualCardPrerequisites();
    const glue = buildVcardGlue();
    const started = performance.now();
    const dir = mkdtempSync(join(tmpdir(), 'p11ksp-vcard-'));
    const runDir = join(tmpdir(), `p11ksp-pcsc-${process.pid}`, 'run');
    rmSync(runDir, { recursive: true, force: true });
    mkdirSync(join(runDir, 'pcscd'), { recursive: true });
    const card = new VirtualCard(pin, dir, runDir, {
      keys: keyCount, keyBits: options.keyBits ?? 2048, maxTries: options.maxTries ?? 3, verbose: options.verbose ?? false,
    });
    running = card;
    process.on('exit', card.exitHook);
    try {
      await card.makeCardDatabase();
      card.startPcscd();
      await card.waitForFile(card.socketPath, 'pcscd did not create its socket');
      // Every client in this process reaches the private pcscd (libpcsclite reads this once).
      process.env.PCSCLITE_CSOCK_NAME = card.socketPath;
      card.startGlue(glue);
      await card.waitForEvent('pcsc-present', 0, 'pcscd never reported the card');
      card.inserted = true;
      card.readTokenIdentity();
      card.startupMs = performance.now() - started;
      return card;
    } catch (error) {
      await card.stop();
      throw error;
    }
  }

  /** Pulls the card out: resolves when pcscd reports the reader empty. */
  async remove(): Promise<void> {
    this.assertRunning();
    if (!this.inserted) return;
    const from = this.events.length;
    this.glue!.kill('SIGUSR1');
    await this.waitForEvent('pcsc-empty', from, 'pcscd did not notice the removal');
    this.inserted = false;
  }

  /** Puts the card back: resolves when pcscd reports it present (powered, ATR read). */
  async insert(): Promise<void> {
    this.assertRunning();
    if (this.inserted) return;
    const from = this.events.length;
    this.glue!.kill('SIGUSR2');
    await this.waitForEvent('pcsc-present', from, 'pcscd did not notice the insertion');
    this.inserted = true;
  }

  /** Resets the PIN retry counter to the maximum (what an administrator's unblock does). */
  async unblockPin(): Promise<void> {
    this.assertRunning();
    const from = this.events.length;
    this.glue!.kill('SIGHUP');
    await this.waitForEvent('pin-unblocked', from, 'the glue did not unblock the PIN');
  }

  /** Stops the glue and pcscd by PID and removes the files. Safe to call twice. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    // The glue first: it would otherwise see pcscd go and exit by itself (that is fine too).
    await stopChild(this.glue);
    await stopChild(this.pcscd);
    process.removeListener('exit', this.exitHook);
    rmSync(this.dir, { recursive: true, force: true });
    rmSync(join(this.runDir, '..'), { recursive: true, force: true });
    if (running === this) running = undefined;
  }

  /** Diagnostics from pcscd and the glue (stderr and unexpected output), for failure messages. */
  get log(): string {
    return this.diagnostics.join('\n');
  }

  // ---- setup ------------------------------------------------------------------------------------

  /** A CA, key pairs with CA-issued certificates, and an NSS database whose password is the PIN. */
  private async makeCardDatabase(): Promise<void> {
    const keysDir = join(this.dir, 'keys');
    const nssDir = join(this.dir, 'nss');
    mkdirSync(keysDir, { mode: 0o700 });
    mkdirSync(nssDir, { mode: 0o700 });
    const pinFile = join(keysDir, 'pin.txt');
    const p12PassFile = join(keysDir, 'p12pass.txt');
    writeFileSync(pinFile, `${this.pin}\n`, { mode: 0o600 });
    writeFileSync(p12PassFile, `${randomBytes(12).toString('hex')}\n`, { mode: 0o600 });
    const bits = String(this.options.keyBits);
    const tag = randomBytes(4).toString('hex');
    const run = (cmd: string, args: string[]) => runTool(cmd, args, keysDir);

    const ca = join(keysDir, 'ca');
    const keyGen = (base: string, subject: string, extra: string[]) => run('openssl', [
      'req', '-newkey', `rsa:${bits}`, '-nodes', '-keyout', `${base}.key`, '-subj', subject, ...extra]);
    // The CA and the card keys in parallel: key generation dominates the start-up time.
    const nicknames = Array.from({ length: this.options.keys }, (_, i) => `p11ksp-key${i + 1}`);
    const names = nicknames.map((_, i) => (i === 0 ? `p11ksp card ${tag}` : `p11ksp card ${tag} key ${i + 1}`));
    await Promise.all([
      keyGen(ca, `/CN=p11ksp test CA ${tag}`, ['-x509', '-days', '7', '-out', `${ca}.crt`,
        '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']),
      ...nicknames.map((nick, i) => keyGen(join(keysDir, nick), `/CN=${names[i]}`, ['-out', join(keysDir, `${nick}.csr`)])),
    ]);
    const extFile = join(keysDir, 'leaf.ext');
    writeFileSync(extFile, 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n');
    await Promise.all(nicknames.map(async (nick) => {
      const base = join(keysDir, nick);
      await run('openssl', ['x509', '-req', '-in', `${base}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`,
        '-set_serial', `0x${randomBytes(8).toString('hex')}`, '-days', '7', '-extfile', extFile, '-out', `${base}.crt`]);
      await run('openssl', ['pkcs12', '-export', '-inkey', `${base}.key`, '-in', `${base}.crt`, '-name', nick,
        '-passout', `file:${p12PassFile}`, '-out', `${base}.p12`]);
    }));
    // NSS: one iteration of the PIN's PBE, or every private-key use costs ~40 ms.
    await run('certutil', ['-N', '-d', `sql:${nssDir}`, '-f', pinFile]);
    for (const nick of nicknames) { // one writer at a time on the sqlite database
      await run('pk12util', ['-i', join(keysDir, `${nick}.p12`), '-d', `sql:${nssDir}`, '-k', pinFile, '-w', p12PassFile]);
    }
    this.caCertPem = readFileSync(`${ca}.crt`, 'utf8');
    nicknames.forEach((nickname, i) => {
      const certPem = readFileSync(join(keysDir, `${nickname}.crt`), 'utf8');
      const certificate = new X509Certificate(certPem);
      this.keys.push({
        id: (i + 1).toString(16).padStart(4, '0'), nickname, commonName: names[i], certPem, certificate,
        publicKey: certificate.publicKey,
      });
    });
    // Private keys and passwords are on the card (NSS database) now; nothing else needs them.
    for (const nick of [...nicknames, 'ca']) rmSync(join(keysDir, `${nick}.key`), { force: true });
    for (const nick of nicknames) rmSync(join(keysDir, `${nick}.p12`), { force: true });
    rmSync(p12PassFile, { force: true });
    rmSync(pinFile, { force: true });
  }

  private startPcscd(): void {
    const confDir = join(this.dir, 'reader.conf.d');
    mkdirSync(confDir);
    writeFileSync(join(confDir, 'vpcd'), [
      `FRIENDLYNAME "${READER_FRIENDLY_NAME}"`,
      `DEVICENAME   /dev/null:0x${VPCD_PORT.toString(16)}`, // "/dev/null:" = listen, on this port
      `LIBPATH      ${VPCD_DRIVER}`,
      `CHANNELID    0x${VPCD_PORT.toString(16)}`,
      '',
    ].join('\n'));
    const script = 'ip link set lo up && mount --bind "$1" /run && exec pcscd --foreground --config "$2"';
    const env = { ...process.env };
    delete env.LISTEN_FDS; // not socket-activated
    delete env.LISTEN_PID;
    this.pcscd = spawn('setpriv', ['--pdeathsig', 'TERM', '--', 'unshare', '--mount', '--net', '--',
      'sh', '-c', script, 'sh', this.runDir, confDir], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.collect(this.pcscd, 'pcscd');
  }

  private startGlue(gluePath: string): void {
    const pid = this.pcscd?.pid;
    if (pid === undefined || this.pcscd?.exitCode !== null) throw new Error(`pcscd is not running\n${this.log}`);
    const args = ['--net=/proc/' + pid + '/ns/net', '--', gluePath, '--db', join(this.dir, 'nss'),
      ...this.keys.flatMap((k) => ['--cert', k.nickname]), '--port', String(VPCD_PORT),
      '--max-tries', String(this.options.maxTries), '--pcsc-reader', this.readerName,
      ...(this.options.verbose ? ['--verbose'] : [])];
    const env: NodeJS.ProcessEnv = { ...process.env, PCSCLITE_CSOCK_NAME: this.socketPath, NSS_MAX_MP_PBE_ITERATION_COUNT: '1' };
    delete env.G_MESSAGES_DEBUG;
    this.glue = spawn('nsenter', args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.collect(this.glue, 'vcard-glue', (line) => {
      this.events.push(line);
      const atr = /^ready atr=([0-9A-F]+)$/.exec(line);
      if (atr) this.atr = atr[1];
    });
  }

  /** OpenSC's view, from a child process: label and serial of the one token. */
  private readTokenIdentity(): void {
    const out = runToolSync('pkcs11-tool', ['--module', OPENSC_MODULE, '--list-token-slots'], { ...process.env, ...this.env });
    const label = /token label\s*:\s*(.*)$/m.exec(out);
    const serial = /serial num\s*:\s*(.*)$/m.exec(out);
    if (!label || !serial) throw new Error(`OpenSC shows no token on the virtual card:\n${out}\n${this.log}`);
    this.label = label[1].trim();
    this.serial = serial[1].trim();
  }

  // ---- processes and events -------------------------------------------------------------------------

  private collect(child: ChildProcess, name: string, onLine?: (line: string) => void): void {
    const note = (line: string) => {
      this.diagnostics.push(`${name}: ${line}`);
      if (this.diagnostics.length > 200) this.diagnostics.shift();
    };
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (onLine) onLine(line);
      else note(line);
      this.wake();
    });
    createInterface({ input: child.stderr! }).on('line', note);
    child.on('error', (error) => {
      note(`cannot start: ${error.message}`);
      this.wake();
    });
    child.on('exit', (code, signal) => {
      if (!this.stopped) note(`exited (${signal ?? code})`);
      this.wake();
    });
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }

  private waitForEvent(event: string, from: number, failure: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.events.slice(from).includes(event)) return finish();
        const dead = [this.pcscd, this.glue].find((c) => c && (c.exitCode !== null || c.signalCode !== null));
        if (dead) finish(new Error(`${failure}: ${dead === this.glue ? 'the glue' : 'pcscd'} exited\n${this.log}`));
      };
      const timer = setTimeout(() => finish(new Error(`${failure} within ${CARD_TIMEOUT_MS} ms\n${this.log}`)), CARD_TIMEOUT_MS);
      const finish = (error?: Error) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        if (error) reject(error);
        else resolve();
      };
      this.waiters.add(check);
      check();
    });
  }

  private async waitForFile(path: string, failure: string): Promise<void> {
    const deadline = Date.now() + CARD_TIMEOUT_MS;
    while (!existsSync(path)) {
      if (this.pcscd?.exitCode !== null || this.pcscd?.signalCode !== null) throw new Error(`${failure}: it exited\n${this.log}`);
      if (Date.now() > deadline) throw new Error(`${failure} within ${CARD_TIMEOUT_MS} ms\n${this.log}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  private assertRunning(): void {
    if (this.stopped || !this.glue) throw new Error('the virtual card rig is stopped');
  }

  /** process.on('exit'): synchronous, so SIGKILL and remove what is left. */
  private killNow(): void {
    for (const child of [this.glue, this.pcscd]) {
      if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone already */ }
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
    rmSync(join(this.runDir, '..'), { recursive: true, force: true });
  }
}

let running: VirtualCard | undefined;

/** Starts a virtual card (see VirtualCard). Stop it with stop(). */
export function startVirtualCard(options?: VirtualCardOptions): Promise<VirtualCard> {
  return VirtualCard.start(options);
}

/**
 * The glue binary, built with make if it is missing or older than its source (make needs cc,
 * pkg-config, libcacard-dev, libpcsclite-dev). Built by `make -C test/rigs/virtual-card`.
 */
export function buildVcardGlue(): string {
  const dir = join(findRepoRoot(), VCARD_GLUE_DIR);
  const binary = join(dir, VCARD_GLUE_NAME);
  const source = join(dir, `${VCARD_GLUE_NAME}.c`);
  if (existsSync(binary) && statSync(binary).mtimeMs >= statSync(source).mtimeMs) return binary;
  try {
    execFileSync('make', ['-C', dir, VCARD_GLUE_NAME], { stdio: 'pipe' });
  } catch (error) {
    const e = error as { stderr?: Buffer; stdout?: Buffer; message: string };
    throw new Error(`building ${binary} failed: ${e.stderr?.toString() || e.stdout?.toString() || e.message}`);
  }
  return binary;
}

/** Throws one error naming every missing part and the Debian packages that bring them. */
export function checkVirtualCardPrerequisites(): void {
  const missing: string[] = [];
  const need = (ok: boolean, what: string) => { if (!ok) missing.push(what); };
  const onPath = (cmd: string) => (process.env.PATH ?? '/usr/bin:/bin').split(':').some((d) => d && existsSync(join(d, cmd)));
  need(onPath('pcscd') || existsSync('/usr/sbin/pcscd'), 'pcscd (pcscd)');
  need(existsSync(VPCD_DRIVER), `${VPCD_DRIVER} (vsmartcard-vpcd)`);
  need(existsSync(OPENSC_MODULE), `${OPENSC_MODULE} (opensc-pkcs11)`);
  need(onPath('pkcs11-tool'), 'pkcs11-tool (opensc)');
  need(onPath('certutil') && onPath('pk12util'), 'certutil, pk12util (libnss3-tools)');
  need(onPath('openssl'), 'openssl (openssl)');
  need(onPath('unshare') && onPath('nsenter') && onPath('setpriv'), 'unshare, nsenter, setpriv (util-linux)');
  need(onPath('ip') || existsSync('/usr/sbin/ip') || existsSync('/sbin/ip'), 'ip (iproute2)');
  if (missing.length > 0) {
    throw new Error(`the virtual card rig needs: ${missing.join('; ')}. Debian: apt-get install -y ` +
      'pcscd vsmartcard-vpcd opensc opensc-pkcs11 libnss3-tools openssl util-linux iproute2 libcacard-dev libpcsclite-dev pkg-config build-essential');
  }
}

async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child?.pid || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

/** Runs a tool; its arguments never hold a secret (files do), so they may appear in errors. */
async function runTool(cmd: string, args: string[], cwd: string): Promise<void> {
  try {
    await execFileAsync(cmd, args, { cwd, env: { ...process.env, NSS_MAX_MP_PBE_ITERATION_COUNT: '1' } });
  } catch (error) {
    const e = error as { stderr?: string; stdout?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${e.stderr || e.stdout || e.message}`);
  }
}

function runToolSync(cmd: string, args: string[], env: NodeJS.ProcessEnv): string {
  try {
    return execFileSync(cmd, args, { env, encoding: 'utf8', stdio: 'pipe' });
  } catch (error) {
    const e = error as { stderr?: string; stdout?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${e.stderr || e.stdout || e.message}`);
  }
}
