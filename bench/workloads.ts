// W1, W2 and W3 as data: the topology each declares and the options of the common driver loop.
import type { DriveOptions } from './drive.ts';
import { Pacer } from './pacer.ts';
import type { Topology } from './types.ts';

export type WorkloadId = 'w1' | 'w2' | 'w3';

export interface Params {
  /** W1 messages. */
  readonly n: number;
  /** W2 messages, each delivered to every one of the fan-out queues. */
  readonly w2n: number;
  /** W3 burst size. */
  readonly w3Burst: number;
  /** W3 consumer limit, messages per second. */
  readonly w3Rate: number;
}

/** Identical for every system: publisher confirms window, consumer prefetch. */
export const MAX_IN_FLIGHT = 256;
export const PREFETCH = 256;
export const FANOUT_QUEUES = 4;
const STALL_MS = 20_000;
/** Messages of the unmeasured warm-up run before each measured one (JIT, connections, first files). */
export const WARMUP_N = 1_000;
/**
 * Enqueues a Warren engine that starts with the run (its node processes, or embedded, the run's own
 * process) warms up on first: enough confirm windows of 256 for V8's optimizing tiers to reach the code
 * that runs once a window, too. At 10,000 a W1 run over NATS still had a cold start (its first fifth:
 * p99 18–26 ms against 13–15 ms after; 36,000–38,000 msgs/s against 46,000–48,000 at 40,000).
 */
export const ENGINE_WARMUP_ENQUEUES = 40_000;

/** The messages of that warm-up: a fan-out publish is an enqueue on every queue. */
export function engineWarmupN(topology: Topology): number {
  return ENGINE_WARMUP_ENQUEUES / (topology.kind === 'queue' ? 1 : topology.queues);
}

/**
 * What `npm run bench` runs without flags: sized to finish in under 10 minutes on a 2-core machine.
 * W3 keeps the rate but not its 200,000 burst, which alone would take 100 s per system: 40,000
 * messages (40 MiB, more than the 32 MiB of bodies a Warren queue keeps in memory) drain in 20 s.
 */
export const DEFAULTS = {
  params: { n: 50_000, w2n: 5_000, w3Burst: 40_000, w3Rate: 2_000 } satisfies Params,
  /** W1 carries the goals: its ratios move from round to round on a shared machine, so five rounds give their medians. */
  rounds: 5,
  /** W2 carries no goal: two rounds keep the whole run under 10 minutes on a slow day. */
  w2Rounds: 2,
  /** W3's drain time is set by the rate limit, so one long burst tells more than several short ones. */
  w3Rounds: 1,
} as const;

export interface Workload {
  readonly id: WorkloadId;
  readonly title: string;
  readonly topology: Topology;
  messages(p: Params): number;
  /** Builds the driver options; `cleanup` runs after the drive (stops W3's pacer). */
  drive(p: Params): { options: DriveOptions; cleanup(): void };
  /** How long a run (warm-up included) may take before the orchestrator kills it. */
  budgetMs(p: Params): number;
}

const plain = (n: number, queues: number): DriveOptions => ({ n, queues, prefetch: PREFETCH, maxInFlight: MAX_IN_FLIGHT, stallMs: STALL_MS });

/** A warm-up of `n` messages: the workload's topology, no rate limit. */
export function warmup(topology: Topology, n: number): DriveOptions {
  return plain(n, topology.kind === 'queue' ? 1 : topology.queues);
}

/** The warm-up runs on its own queues, named after the measured run's. */
export function warmupName(name: string): string {
  return `${name}-warmup`;
}

export const workloads: Record<WorkloadId, Workload> = {
  w1: {
    id: 'w1',
    title: 'W1 durable work queue',
    topology: { kind: 'queue' },
    messages: (p) => p.n,
    drive: (p) => ({ options: plain(p.n, 1), cleanup: () => {} }),
    // Generous: 1,000 msgs/s would already be far below every system measured.
    budgetMs: (p) => 60_000 + p.n,
  },
  w2: {
    id: 'w2',
    title: `W2 fan-out to ${FANOUT_QUEUES} queues`,
    topology: { kind: 'fanout', queues: FANOUT_QUEUES },
    messages: (p) => p.w2n,
    drive: (p) => ({ options: plain(p.w2n, FANOUT_QUEUES), cleanup: () => {} }),
    budgetMs: (p) => 60_000 + p.w2n * FANOUT_QUEUES,
  },
  w3: {
    id: 'w3',
    title: 'W3 peak shaving',
    topology: { kind: 'queue' },
    messages: (p) => p.w3Burst,
    drive: (p) => {
      const pacer = new Pacer(p.w3Rate);
      return { options: { ...plain(p.w3Burst, 1), gateAck: (ack) => pacer.push(ack), sampleRss: true }, cleanup: () => pacer.stop() };
    },
    budgetMs: (p) => 60_000 + (2 * 1000 * p.w3Burst) / p.w3Rate,
  },
};
