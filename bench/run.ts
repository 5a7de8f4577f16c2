// `npm run bench`: probes the systems, runs W1–W3 for each in alternating rounds (each run in a
// fresh process), runs the storage benchmark, and writes BENCHMARKS.md and the W1 chart.
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { SingleBar, Presets } from 'cli-progress';
import { Command, InvalidArgumentError, Option } from 'commander';
import { row, type Outcome } from './aggregate.ts';
import { chart } from './chart.ts';
import { ROOT } from './entry-point.ts';
import { machine } from './machine.ts';
import { rate } from './metrics.ts';
import type { Job } from './protocol.ts';
import { report, type SystemStatus, type StorageSection } from './report.ts';
import { runInChild } from './spawn.ts';
import { BASELINE, entries, entry, type SystemId } from './systems/registry.ts';
import { withTimeout } from './timeout.ts';
import type { System } from './types.ts';
import { DEFAULTS, warmupName, workloads, type Params, type WorkloadId } from './workloads.ts';

const PROBE_TIMEOUT_MS = 10_000;

const positive = (v: string): number => {
  const n = Number(v.replace(/_/g, ''));
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('must be a positive integer');
  return n;
};
const list = (v: string): string[] => v.split(',').map((s) => s.trim()).filter(Boolean);

const program = new Command('bench')
  .description('Warren side-by-side benchmarks (issue 7); writes BENCHMARKS.md')
  .addOption(new Option('--n <n>', 'W1 messages').env('BENCH_N').argParser(positive).default(DEFAULTS.params.n))
  .addOption(new Option('--w2-n <n>', 'W2 messages (each delivered to 4 queues)').env('BENCH_W2_N').argParser(positive).default(DEFAULTS.params.w2n))
  .addOption(new Option('--w3-burst <n>', 'W3 burst size (the issue says 200000)').env('BENCH_W3_BURST').argParser(positive).default(DEFAULTS.params.w3Burst))
  .addOption(new Option('--w3-rate <n>', 'W3 consumer limit, msgs/s').env('BENCH_W3_RATE').argParser(positive).default(DEFAULTS.params.w3Rate))
  .addOption(new Option('--rounds <n>', 'rounds of W1; figures are medians over them').env('BENCH_ROUNDS').argParser(positive).default(DEFAULTS.rounds))
  .addOption(new Option('--w2-rounds <n>', 'rounds of W2').env('BENCH_W2_ROUNDS').argParser(positive).default(DEFAULTS.w2Rounds))
  .addOption(new Option('--w3-rounds <n>', 'rounds of W3').env('BENCH_W3_ROUNDS').argParser(positive).default(DEFAULTS.w3Rounds))
  .addOption(new Option('--only <ids>', `systems to run: ${entries.map((e) => e.id).join(',')}`).argParser(list))
  .addOption(new Option('--workloads <ids>', 'workloads to run').argParser(list).default(['w1', 'w2', 'w3']))
  .addOption(new Option('--no-storage', 'skip the storage benchmark (bench/storage.ts)'))
  .addOption(new Option('--no-failover', 'skip the failover benchmark of mirrored queues (bench/failover.ts)'))
  .addOption(new Option('--out <file>', 'report path').default(path.join(ROOT, 'BENCHMARKS.md')))
  .addOption(new Option('--chart <file>', 'W1 chart path').default(path.join(ROOT, 'bench', 'w1.svg')));

interface Flags {
  n: number; w2N: number; w3Burst: number; w3Rate: number; rounds: number; w2Rounds: number; w3Rounds: number;
  only?: string[]; workloads: string[]; storage: boolean; failover: boolean; out: string; chart: string;
}

function isWorkload(w: string): w is WorkloadId {
  return w in workloads;
}

/** Loads and probes a system; any failure becomes the reason it is unavailable. */
async function probe(id: string): Promise<{ status: SystemStatus; system?: System }> {
  const e = entry(id);
  if (!e.load) return { status: { entry: e, status: { kind: 'unavailable', reason: e.notBuilt ?? 'no module' } } };
  try {
    const system = await e.load();
    const info = await withTimeout(system.probe(), PROBE_TIMEOUT_MS, e.name);
    return { status: { entry: e, status: { kind: 'available', info } }, system };
  } catch (err) {
    const reason = err instanceof Error ? err.message.split('\n')[0]! : String(err);
    return { status: { entry: e, status: { kind: 'unavailable', reason } } };
  }
}

async function storageSection(): Promise<StorageSection> {
  try {
    const { runStorageBench } = await import('./storage.ts');
    const r = await runStorageBench();
    const rec = (v: number) => `${Math.round(v).toLocaleString('en-US')} records/s`;
    return {
      rows: [
        ['raw write + fdatasync per 1 KiB record', rec(r.rawSingle)],
        ['raw write + fdatasync per 256 records', rec(r.rawBatch)],
        ["Warren FileStorage, fsync 'always', 256 appends in flight (group commit)", rec(r.fileStorage)],
        ['FileStorage / raw batch', `${r.ratio.toFixed(2)}×`],
        ...(await backlogRows()),
      ],
    };
  } catch (err) {
    return { error: err instanceof Error ? err.message.split('\n')[0]! : String(err) };
  }
}

/** Messages waiting in the queue for the failover with a backlog: a new leader recovers them, and its mirrors must not need them copied again. */
const FAILOVER_BACKLOG = 100_000;

/** Issue 5's availability figure: how long publishing stalls when a mirrored queue's leader fails. */
async function failoverSection(): Promise<StorageSection> {
  try {
    const { measureFailover, runFailoverBench } = await import('./failover.ts');
    const r = await runFailoverBench(1);
    const withBacklog = await measureFailover('SIGKILL', 1, FAILOVER_BACKLOG);
    const ms = (v: readonly number[]) => `${v.map((x) => x.toLocaleString('en-US')).join(', ')} ms`;
    return {
      rows: [
        ["leader's process killed (SIGKILL): longest gap between confirms", ms(r.SIGKILL)],
        ["leader's process paused past its lease (SIGSTOP): longest gap between confirms", ms(r.SIGSTOP)],
        [`leader's process killed with ${FAILOVER_BACKLOG.toLocaleString('en-US')} × 1 KiB waiting in the queue: longest gap between confirms`, ms([withBacklog])],
      ],
    };
  } catch (err) {
    return { error: err instanceof Error ? err.message.split('\n')[0]! : String(err) };
  }
}

/** Issue 3's bounded-memory figure: a 1,000,000 × 1 KiB durable backlog, per phase. */
async function backlogRows(): Promise<[string, string][]> {
  const { runBacklogBench, BACKLOG_HEAP_MB } = await import('./backlog.ts');
  const what = { fill: 'published with confirms', recover: 'recovered after a restart', drain: 'drained by a consumer' };
  return (await runBacklogBench()).map((r) => [
    `1,000,000 × 1 KiB backlog ${what[r.phase]} (node with a ${BACKLOG_HEAP_MB} MB heap)`,
    `${r.seconds.toFixed(1)} s, peak RSS ${r.peakRssMb.toFixed(0)} MB`,
  ]);
}

interface Planned extends Job {
  readonly round: number;
}

/** Round by round, workload by workload, every system once, in an order that rotates each round. */
function plan(runnable: readonly SystemId[], chosen: readonly WorkloadId[], roundsOf: Record<WorkloadId, number>, params: Params): Planned[] {
  const runId = Date.now().toString(36);
  const jobs: Planned[] = [];
  for (let round = 1; round <= Math.max(...chosen.map((w) => roundsOf[w])); round++) {
    // Rotating the order spreads drift (warm caches, other work on the machine) over all systems.
    const order = runnable.map((_, i) => runnable[(i + round - 1) % runnable.length]!);
    for (const w of chosen.filter((x) => round <= roundsOf[x])) {
      for (const system of order) jobs.push({ round, system, workload: w, name: `wbench-${runId}-${system}-${w}-r${round}`, params });
    }
  }
  return jobs;
}

async function execute(jobs: readonly Planned[], systems: ReadonlyMap<SystemId, System>, bar: SingleBar): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  for (const [i, job] of jobs.entries()) {
    const { title, topology, budgetMs } = workloads[job.workload];
    bar.update(i, { task: `round ${job.round}: ${title}: ${entry(job.system).name}` });
    const reply = await runInChild(job, budgetMs(job.params));
    // A failed run may have left its queues behind; the run's name says what to delete.
    if (!reply.ok) {
      for (const n of [warmupName(job.name), job.name]) await systems.get(job.system)?.remove(n, topology).catch(() => {});
    }
    outcomes.push({ round: job.round, workload: job.workload, system: job.system, reply });
  }
  return outcomes;
}

function w1Chart(statuses: readonly SystemStatus[], outcomes: readonly Outcome[], rounds: number): string {
  const bars = statuses.map(({ entry: e, status }) => {
    const cell = status.kind === 'available' ? row(outcomes, 'w1', e.id, BASELINE).cells.get(rate.key) : undefined;
    const note = status.kind === 'unavailable' ? status.reason : 'no complete run';
    return { label: e.name, value: cell?.median ?? Number.NaN, ratio: cell?.ratio ?? Number.NaN, note, warren: e.id.startsWith('warren') };
  });
  return chart(`W1 durable work queue: msgs/s (median of ${rounds}; × RabbitMQ classic)`, bars);
}

async function write(file: string, text: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, text);
}

async function main(): Promise<void> {
  const flags = program.parse().opts<Flags>();
  const chosen = flags.workloads.filter(isWorkload);
  if (chosen.length !== flags.workloads.length) throw new InvalidArgumentError(`--workloads: one of ${Object.keys(workloads).join(', ')}`);
  const params: Params = { n: flags.n, w2n: flags.w2N, w3Burst: flags.w3Burst, w3Rate: flags.w3Rate };
  const roundsOf: Record<WorkloadId, number> = { w1: flags.rounds, w2: flags.w2Rounds, w3: flags.w3Rounds };
  const started = new Date();
  const host = machine();

  const probed = await Promise.all((flags.only ?? entries.map((e) => e.id)).map(probe));
  const systems = new Map(probed.flatMap((p) => (p.system ? [[p.status.entry.id, p.system] as const] : [])));
  const jobs = plan([...systems.keys()], chosen, roundsOf, params);

  const bar = new SingleBar({ format: '{bar} {value}/{total} runs | {task}', noTTYOutput: true, notTTYSchedule: 10_000, hideCursor: true }, Presets.shades_classic);
  bar.start(jobs.length + (flags.storage ? 1 : 0) + (flags.failover ? 1 : 0), 0, { task: 'starting' });
  const outcomes = await execute(jobs, systems, bar);
  let storage: StorageSection | undefined;
  if (flags.storage) {
    bar.update(jobs.length, { task: 'storage (bench/storage.ts)' });
    storage = await storageSection();
  }
  let failover: StorageSection | undefined;
  if (flags.failover) {
    bar.update(jobs.length + (flags.storage ? 1 : 0), { task: 'failover of a mirrored queue (bench/failover.ts)' });
    failover = await failoverSection();
  }
  bar.update(bar.getTotal(), { task: 'done' });
  bar.stop();

  const seconds = (Date.now() - started.getTime()) / 1000;
  const args = process.argv.slice(2);
  const statuses = probed.map((p) => p.status);
  await write(flags.out, report({
    startedAt: started, seconds, command: args.length ? `npm run bench -- ${args.join(' ')}` : 'npm run bench',
    params, rounds: roundsOf, workloads: chosen, machine: host, loadAtEnd: os.loadavg()[0] ?? Number.NaN,
    systems: statuses, outcomes, ...(storage ? { storage } : {}), ...(failover ? { failover } : {}),
    chartLink: path.relative(path.dirname(flags.out), flags.chart).split(path.sep).join('/'),
  }));
  await write(flags.chart, w1Chart(statuses, outcomes, flags.rounds));
  console.log(`wrote ${path.relative(process.cwd(), flags.out)} and ${path.relative(process.cwd(), flags.chart)} in ${Math.round(seconds)} s`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
});
