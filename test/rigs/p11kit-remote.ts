// Remote HSM rig: a SoftHSM2 token served by `p11-kit server` on a unix socket in a private temp dir,
// used through p11-kit's RPC client module, the way a networked HSM is reached through a remoting
// engine.
//
// The client reads P11_KIT_SERVER_ADDRESS when the module is loaded (C_GetFunctionList, i.e. pkcs11js
// load()), not at C_Initialize: measured, an address set after load() but before C_Initialize is
// ignored (the client then uses its default address and lists no slots). Each load() binds the
// address current at that moment, so one process can use several servers: set the address, load,
// set the next, load again. loadClient() does exactly that.
//
// Slot IDs differ between client and server: select tokens by label or serial.
// The server is a child of this process (setpriv --pdeathsig TERM execs p11-kit), stopped by PID.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { loadModule, type LoadedModule } from './pkcs11js-module.js';
import { SoftHsmRig, type SoftHsmToken } from './softhsm.js';

export const P11KIT_CLIENT_MODULE = '/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so';
const START_TIMEOUT_MS = 10_000;

export interface P11KitRemoteOptions {
  /** Label of the SoftHSM2 token to serve; made in the process's SoftHSM2 store unless it exists. */
  label: string;
  pin?: string;
  soPin?: string;
}

export class P11KitRemote {
  readonly clientModulePath = P11KIT_CLIENT_MODULE;
  readonly socketPath: string;
  /** Milliseconds from start() to a listening server. */
  startupMs = 0;
  private server?: ChildProcess;
  private readonly output: string[] = [];
  private stopped = false;
  private readonly exitHook = () => this.killNow();

  /**
   * `token` is the one token served, or undefined when the server serves every token of the store
   * (serveStore()).
   */
  private constructor(private readonly served: SoftHsmToken | undefined, readonly dir: string) {
    this.socketPath = join(dir, 'p11-kit.sock');
  }

  /** The token served (start()); serveStore() servers have none and throw. */
  get token(): SoftHsmToken {
    if (!this.served) throw new Error('this p11-kit server serves the whole SoftHSM2 store, not one token');
    return this.served;
  }

  /** "unix:path=<socket>", the value of P11_KIT_SERVER_ADDRESS. */
  get address(): string {
    return `unix:path=${this.socketPath}`;
  }

  /** Environment for child processes (pkcs11-tool --module p11-kit-client.so ...). */
  get env(): Record<string, string> {
    return { P11_KIT_SERVER_ADDRESS: this.address };
  }

  get pid(): number | undefined {
    return this.server?.pid;
  }

  /** The PKCS#11 URI the server exports. */
  get uri(): string {
    // "pkcs11:" with no attribute matches every slot of the provider (measured with p11-kit 0.24.1:
    // the client lists every SoftHSM2 token, and the store's empty slot).
    return this.served ? `pkcs11:token=${pkcs11UriEscape(this.served.label)}` : 'pkcs11:';
  }

  static async start(options: P11KitRemoteOptions): Promise<P11KitRemote> {
    const store = SoftHsmRig.shared();
    const token = store.tokens.find((t) => t.label === options.label) ?? store.addToken(options);
    return P11KitRemote.launch(token);
  }

  /**
   * Starts a server for every token of the process's SoftHSM2 store (the URI "pkcs11:"). The server
   * loads SoftHSM2 per client connection, so it lists the tokens that exist when a client connects.
   */
  static serveStore(): Promise<P11KitRemote> {
    return P11KitRemote.launch(undefined);
  }

  private static async launch(token: SoftHsmToken | undefined): Promise<P11KitRemote> {
    const started = performance.now();
    const rig = new P11KitRemote(token, mkdtempSync(join(tmpdir(), 'p11ksp-p11kit-')));
    process.on('exit', rig.exitHook);
    try {
      await rig.spawnServer();
      rig.startupMs = performance.now() - started;
      return rig;
    } catch (error) {
      await rig.stop();
      throw error;
    }
  }

  private async spawnServer(): Promise<void> {
    const store = SoftHsmRig.shared();
    // SOFTHSM2_CONF (the store) is read by the server, which loads SoftHSM2 in its own process.
    this.server = spawn('setpriv', ['--pdeathsig', 'TERM', '--', 'p11-kit', 'server', '--foreground',
      '--provider', store.modulePath, '--name', this.socketPath, this.uri], { env: store.env(), stdio: ['ignore', 'pipe', 'pipe'] });
    for (const stream of [this.server.stdout!, this.server.stderr!]) {
      createInterface({ input: stream }).on('line', (line) => this.output.push(line));
      // The server never keeps the test process alive: it is stopped by stop(), or at exit by PID.
      (stream as Socket).unref();
    }
    this.server.unref();
    this.server.on('error', (error) => this.output.push(`cannot start: ${error.message}`));
    await this.waitForSocket();
  }

  /**
   * The HSM goes away: SIGKILL to the server and to the per-connection children serving clients
   * (killing only the server leaves those serving). The socket directory stays for restart().
   * Measured (p11-kit 0.24.1): every later call of a client bound to it answers CKR_DEVICE_ERROR,
   * even after a restart, until that client is finalised and initialised again.
   */
  async kill(): Promise<void> {
    const server = this.server;
    if (!server?.pid || server.exitCode !== null || server.signalCode !== null) return;
    const children = childPids(server.pid);
    const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()));
    server.kill('SIGKILL');
    for (const pid of children) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone already */ }
    }
    await exited;
    rmSync(this.socketPath, { force: true });
  }

  /** Starts the server again on the same socket after kill(). */
  async restart(): Promise<void> {
    if (this.stopped) throw new Error('the server was stopped; start a new one');
    await this.kill();
    await this.spawnServer();
  }

  /**
   * Loads p11-kit-client.so bound to this server and initialises it (CKF_OS_LOCKING_OK, which the
   * client requires). Sets P11_KIT_SERVER_ADDRESS in process.env for the load and leaves it set.
   */
  loadClient(): LoadedModule {
    process.env.P11_KIT_SERVER_ADDRESS = this.address;
    return loadModule(this.clientModulePath);
  }

  /** Stops the server by PID and removes its directory. Finalise clients first. Safe to call twice. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const server = this.server;
    if (server?.pid && server.exitCode === null && server.signalCode === null) {
      // The server forks one p11-kit-remote per client connection; a finalised client's child exits
      // by itself. Give those a moment so the server reaps them, then stop the server and any child
      // still serving a client that never finalised.
      let children = childPids(server.pid);
      for (let waited = 0; children.length > 0 && waited < 1_000; waited += 20) {
        await new Promise((r) => setTimeout(r, 20));
        children = childPids(server.pid);
      }
      const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()));
      server.kill('SIGTERM');
      const timer = setTimeout(() => server.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
      for (const pid of children) {
        try { process.kill(pid, 'SIGTERM'); } catch { /* gone already */ }
      }
    }
    process.removeListener('exit', this.exitHook);
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** The server's output (its address lines and any errors), for failure messages. */
  get log(): string {
    return this.output.join('\n');
  }

  private async waitForSocket(): Promise<void> {
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (!existsSync(this.socketPath)) {
      const server = this.server!;
      if (server.exitCode !== null || server.signalCode !== null) throw new Error(`p11-kit server exited\n${this.log}`);
      if (Date.now() > deadline) throw new Error(`p11-kit server made no socket in ${START_TIMEOUT_MS} ms\n${this.log}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  private killNow(): void {
    const pid = this.server?.pid;
    if (pid !== undefined && this.server?.exitCode === null && this.server.signalCode === null) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone already */ }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Direct children of a process (Linux /proc/<pid>/task/<tid>/children). */
function childPids(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((tid) =>
      readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(/\s+/).filter(Boolean).map(Number));
  } catch {
    return [];
  }
}

/** Starts `p11-kit server` for one SoftHSM2 token (see P11KitRemote). Stop it with stop(). */
export function startP11KitRemote(options: P11KitRemoteOptions): Promise<P11KitRemote> {
  return P11KitRemote.start(options);
}

/** Percent-encodes a PKCS#11 URI path attribute value (RFC 7512: unreserved characters stay). */
export function pkcs11UriEscape(value: string): string {
  return Array.from(Buffer.from(value, 'utf8'))
    .map((byte) => {
      const c = String.fromCharCode(byte);
      return /[A-Za-z0-9\-._~]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    })
    .join('');
}
