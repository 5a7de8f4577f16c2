// A private nats-server for tests and benchmarks: its own free loopback port and store dir, so a test
// can kill, pause and restart it without touching the machine's shared server. Every wait is bounded.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

export class NatsServer {
  private proc: ChildProcess | undefined;

  private constructor(readonly port: number, readonly storeDir: string, private readonly config: readonly string[]) {}

  /**
   * `maxPayload`: the server's max_payload, when not its default (1 MiB); `auth`: the one user, or the
   * token, it lets in; `tls`: its certificate and key (PEM files), and with `caFile` it verifies clients;
   * `operator`: operator mode, with the operator's JWT and its accounts' JWTs by public key (a memory
   * resolver), one of them the system account.
   */
  static async start(opts: {
    readonly maxPayload?: number;
    readonly auth?: { readonly user: string; readonly pass: string } | { readonly token: string };
    readonly tls?: { readonly certFile: string; readonly keyFile: string; readonly caFile?: string };
    readonly operator?: { readonly jwt: string; readonly systemAccount: string; readonly accounts: Readonly<Record<string, string>> };
  } = {}): Promise<NatsServer> {
    const storeDir = await mkdtemp(path.join(tmpdir(), 'warren-nats-'));
    let config: string[] = [];
    const lines = [
      ...(opts.maxPayload === undefined ? [] : [`max_payload: ${opts.maxPayload}`]),
      ...(opts.auth === undefined ? [] : ['token' in opts.auth
        ? `authorization { token: ${JSON.stringify(opts.auth.token)} }`
        : `authorization { user: ${JSON.stringify(opts.auth.user)}, password: ${JSON.stringify(opts.auth.pass)} }`]),
      ...(opts.tls === undefined ? [] : [`tls { cert_file: ${JSON.stringify(opts.tls.certFile)}, key_file: ${JSON.stringify(opts.tls.keyFile)}${
        opts.tls.caFile === undefined ? '' : `, ca_file: ${JSON.stringify(opts.tls.caFile)}, verify: true`} }`]),
      ...(opts.operator === undefined ? [] : [
        `operator: ${JSON.stringify(opts.operator.jwt)}`,
        `system_account: ${opts.operator.systemAccount}`,
        'resolver: MEMORY',
        `resolver_preload: { ${Object.entries(opts.operator.accounts).map(([key, jwt]) => `${key}: ${JSON.stringify(jwt)}`).join(', ')} }`,
      ]),
    ];
    if (lines.length > 0) {
      const file = path.join(storeDir, 'server.conf');
      await writeFile(file, `${lines.join('\n')}\n`);
      config = ['-c', file];
    }
    const server = new NatsServer(await freePort(), storeDir, config);
    await server.launch();
    return server;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** SIGKILL: the server is gone at once, as in a crash. */
  async kill(): Promise<void> {
    await this.signalAndWait('SIGKILL');
  }

  /** Same port, same store: clients reconnect to it. */
  async restart(): Promise<void> {
    await this.kill();
    await this.launch();
  }

  pause(): void {
    this.proc?.kill('SIGSTOP');
  }

  resume(): void {
    this.proc?.kill('SIGCONT');
  }

  async stop(): Promise<void> {
    this.resume();
    await this.signalAndWait('SIGTERM', 5_000).catch(() => this.signalAndWait('SIGKILL'));
    await rm(this.storeDir, { recursive: true, force: true });
  }

  private async launch(): Promise<void> {
    const proc = spawn('nats-server', [...this.config, '-a', '127.0.0.1', '-p', String(this.port), '-js', '-sd', this.storeDir], { stdio: 'ignore' });
    this.proc = proc;
    const deadline = Date.now() + 10_000;
    while (!(await accepts(this.port))) {
      if (proc.exitCode !== null) throw new Error(`nats-server exited with ${proc.exitCode}`);
      if (Date.now() > deadline) throw new Error(`nats-server did not accept connections on ${this.port} within 10 s`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  private signalAndWait(signal: NodeJS.Signals, limitMs = 10_000): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`nats-server did not exit on ${signal}`)), limitMs);
      proc.once('exit', () => { clearTimeout(timer); resolve(); });
      proc.kill(signal);
    });
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect(port, '127.0.0.1');
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}
