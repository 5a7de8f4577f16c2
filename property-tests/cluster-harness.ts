// Runs cluster-worker.ts processes for the multi-process tests and collects what they report.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { until } from '../node/testing.ts';

const ROOT = path.resolve(import.meta.dirname, '..');

export interface WorkerOptions {
  readonly role: 'serve' | 'produce' | 'consume';
  readonly id: string;
  readonly queue: string;
  readonly from?: number;
  readonly count?: number;
  readonly hold?: boolean;
  readonly prefetch?: number;
  readonly client?: boolean;
  readonly inFlight?: number;
  readonly retryForMs?: number;
  readonly paceMs?: number;
  /** serve: declare `queue` mirrored this many times (this node leads it). */
  readonly mirrors?: number;
  /** Files this process writes stop growing at this size (ulimit -f): a full disk, for this node only. */
  readonly fileLimitKiB?: number;
}

export class Worker {
  readonly confirmed: string[] = [];
  /** When each confirm was read (ms since epoch): failover times are gaps between them. */
  readonly confirmedAt: number[] = [];
  readonly got: { id: string; deliveryCount: number; redelivered: boolean }[] = [];
  ready = false;
  /** produce: what the producer said it published, once it has finished. */
  attempted: number | undefined;
  readonly refused: string[] = [];
  stderr = '';

  constructor(readonly proc: ChildProcess) {
    let buffered = '';
    proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        const [what, a, b, c] = line.split(' ');
        if (what === 'ready') this.ready = true;
        else if (what === 'confirmed') { this.confirmed.push(a!); this.confirmedAt.push(Date.now()); }
        else if (what === 'refused') this.refused.push(a!);
        else if (what === 'attempted') this.attempted = Number(a);
        else if (what === 'got') this.got.push({ id: a!, deliveryCount: Number(b), redelivered: c === '1' });
      }
    });
    proc.stderr!.setEncoding('utf8').on('data', (c: string) => { this.stderr += c; });
  }

  get exited(): boolean {
    return this.proc.exitCode !== null || this.proc.signalCode !== null;
  }

  /** Stops (SIGSTOP) or continues (SIGCONT) the process. */
  signal(signal: 'SIGSTOP' | 'SIGCONT'): void {
    if (!this.exited) this.proc.kill(signal);
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.exited) return Promise.resolve();
    return new Promise((r) => { this.proc.once('exit', () => r()); this.proc.kill(signal); });
  }
}

export class ClusterHarness {
  private readonly workers: Worker[] = [];
  private constructor(readonly nats: string, readonly cluster: string, private readonly dir: string) {}

  static async create(nats: string): Promise<ClusterHarness> {
    return new ClusterHarness(nats, `t${process.pid}x${Math.floor(Math.random() * 1e9)}`, await mkdtemp(path.join(tmpdir(), 'warren-cluster-')));
  }

  async start({ fileLimitKiB, ...o }: WorkerOptions): Promise<Worker> {
    const args = ['--import', 'tsx', 'property-tests/cluster-worker.ts', JSON.stringify({ ...o, nats: this.nats, cluster: this.cluster, data: path.join(this.dir, o.id) })];
    // Node ignores SIGXFSZ, so a write past the limit fails with EFBIG, as on a full disk.
    const [cmd, argv] = fileLimitKiB === undefined ? [process.execPath, args] : ['bash', ['-c', `ulimit -f ${fileLimitKiB} && exec "$0" "$@"`, process.execPath, ...args]];
    const w = new Worker(spawn(cmd, argv, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }));
    this.workers.push(w);
    await until(() => w.ready || w.exited, `worker ${o.id} ready`, 30_000);
    if (!w.ready) throw new Error(`worker ${o.id} exited: ${w.stderr}`);
    return w;
  }

  async close(): Promise<void> {
    for (const w of this.workers) {
      w.signal('SIGCONT');
      await w.kill();
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}
