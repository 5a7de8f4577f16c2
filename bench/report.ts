// BENCHMARKS.md: machine, goals, one table per workload (medians, ratios to RabbitMQ classic of the
// same round, correctness), what a confirm means on each system, the method, and every round's figures.
import { row, type Outcome, type Row } from './aggregate.ts';
import { num, times } from './format.ts';
import { goals, judge } from './goals.ts';
import type { Machine } from './machine.ts';
import { metrics } from './metrics.ts';
import { BASELINE, type Entry, type SystemId } from './systems/registry.ts';
import type { ServerInfo } from './types.ts';
import { DEFAULTS, ENGINE_WARMUP_ENQUEUES, FANOUT_QUEUES, MAX_IN_FLIGHT, PREFETCH, WARMUP_N, workloads, type Params, type WorkloadId } from './workloads.ts';

export type Status = { readonly kind: 'available'; readonly info: ServerInfo } | { readonly kind: 'unavailable'; readonly reason: string };

export interface SystemStatus {
  readonly entry: Entry;
  readonly status: Status;
}

/** The storage section: figures from bench/storage.ts, or why there are none. */
export type StorageSection = { readonly rows: readonly (readonly [string, string])[] } | { readonly error: string };

export interface ReportInput {
  readonly startedAt: Date;
  readonly seconds: number;
  readonly command: string;
  readonly params: Params;
  readonly rounds: Readonly<Record<WorkloadId, number>>;
  readonly workloads: readonly WorkloadId[];
  readonly machine: Machine;
  readonly loadAtEnd: number;
  readonly systems: readonly SystemStatus[];
  readonly outcomes: readonly Outcome[];
  readonly storage?: StorageSection;
  /** Mirrored queues' failover figures (bench/failover.ts), in the same shape. */
  readonly failover?: StorageSection;
  /** Path of the W1 chart relative to the report. */
  readonly chartLink: string;
}

const table = (head: readonly string[], rows: readonly (readonly string[])[]): string =>
  [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');

function name(input: ReportInput, id: SystemId): string {
  return input.systems.find((s) => s.entry.id === id)?.entry.name ?? id;
}

function correctness(r: Row): string {
  const c = r.correctness;
  if (!c) return '–';
  const ok = c.completeRuns === r.runs && c.duplicates === 0 && c.corrupt === 0;
  const parts = [`${num(c.worstDistinct, 0)}/${num(c.expected, 0)} distinct`, `${c.duplicates} dup`];
  if (c.corrupt > 0) parts.push(`${c.corrupt} corrupt`);
  if (c.completeRuns < c.tallied) parts.push(`${c.tallied - c.completeRuns} of ${r.runs} runs incomplete`);
  if (c.tallied < r.runs) parts.push(`${r.runs - c.tallied} of ${r.runs} runs failed`);
  return `${ok ? '✓' : '✗'} ${parts.join(', ')}`;
}

function workloadTable(input: ReportInput, w: WorkloadId): string {
  const ms = metrics[w];
  const head = ['System', ...ms.flatMap((m) => [m.label, `× classic`]), 'delivered (worst run)', 'runs'];
  const rows = input.systems.map(({ entry, status }) => {
    const blank = ms.flatMap(() => ['', '']);
    if (status.kind === 'unavailable') return [entry.name, `*unavailable: ${status.reason}*`, ...blank.slice(1), '', '0'];
    const r = row(input.outcomes, w, entry.id, BASELINE);
    const okRuns = r.correctness?.completeRuns ?? 0;
    if (okRuns === 0) return [entry.name, `*failed: ${r.errors.join('; ') || 'no complete run'}*`, ...blank.slice(1), correctness(r), `0/${r.runs}`];
    const cells = ms.flatMap((m) => {
      const c = r.cells.get(m.key);
      return c ? [num(c.median, m.digits), times(c.ratio)] : ['–', '–'];
    });
    const failed = r.errors.length > 0 ? ` (failed: ${r.errors.join('; ')})` : '';
    return [entry.name, ...cells, correctness(r), `${okRuns}/${r.runs}${failed}`];
  });
  return table(head, rows);
}

function goalsTable(input: ReportInput): string {
  return table(['Goal', 'ratio (median of rounds)', 'per round', 'result'], goals.map((g) => {
    const v = judge(g, input.outcomes);
    if (v.kind === 'not measured') {
      const why = [g.system, g.base].flatMap((id) => {
        const s = input.systems.find((x) => x.entry.id === id)?.status;
        if (!s) return [`${id} not selected (--only)`];
        return s.kind === 'unavailable' ? [`${name(input, id)}: ${s.reason}`] : [];
      });
      return [g.text, '–', '–', `not measured${why.length ? ` (${why.join('; ')})` : ''}`];
    }
    return [g.text, times(v.ratio), v.perRound.map(times).join(', '), v.met ? '**met**' : '**not met**'];
  }));
}

function perRound(input: ReportInput, w: WorkloadId): string {
  const rounds = Array.from({ length: input.rounds[w] }, (_, i) => i + 1);
  const rows = input.systems.filter((s) => s.status.kind === 'available').flatMap(({ entry }) => metrics[w].map((m) => [
    entry.name, m.label,
    ...rounds.map((round) => {
      const o = input.outcomes.find((x) => x.workload === w && x.system === entry.id && x.round === round);
      if (!o) return '–';
      if (!o.reply.ok) return 'failed';
      return o.reply.result.complete ? num(m.value(o.reply.result), m.digits) : 'incomplete';
    }),
  ]));
  return table(['System', 'figure', ...rounds.map((r) => `round ${r}`)], rows);
}

function systemsTable(input: ReportInput): string {
  return table(['System', 'server', 'what a confirm means here', 'W2 fan-out built as'], input.systems.map(({ entry, status }) =>
    status.kind === 'available'
      ? [entry.name, status.info.server, status.info.durability, status.info.fanout]
      : [entry.name, `*unavailable: ${status.reason}*`, '', '']));
}

function storageSection(s: StorageSection): string {
  if ('error' in s) return `*Not measured: ${s.error}*`;
  return table(['measurement', 'value'], s.rows);
}

const DESCRIPTION: Record<WorkloadId, (p: Params) => string> = {
  w1: (p) => `1 producer, 1 consumer, N = ${num(p.n, 0)} persistent messages of 1 KiB; publisher confirms with at most ${MAX_IN_FLIGHT} unconfirmed in flight; manual ack, prefetch ${PREFETCH}. msgs/s = N / (last ack − first publish); latency = publish → delivery, from the timestamp in the message.`,
  w2: (p) => `1 producer, N = ${num(p.w2n, 0)} messages fanned out to ${FANOUT_QUEUES} queues, ${FANOUT_QUEUES} consumers (one per queue); same confirm window and prefetch as W1. msgs/s = N / (last ack on any queue − first publish), so every message counts once although it is delivered ${FANOUT_QUEUES} times; latencies over all ${FANOUT_QUEUES}·N deliveries. How each system builds the fan-out is in the systems table.`,
  w3: (p) => `A burst of ${num(p.w3Burst, 0)} messages published as fast as the confirm window allows into one queue whose consumer acks at most ${num(p.w3Rate, 0)} msgs/s (ideal drain: ${num(p.w3Burst / p.w3Rate, 1)} s). Peak RSS is that of the process that holds the backlog: the Warren node (embedded: the benchmark's run process, producer and consumer included) or the broker (beam.smp, nats-server, redis-server — whole-server RSS, which includes what the server held before the run); growth = peak − RSS when the burst started.`,
};

/**
 * What bounds Warren where it falls short of a goal: findings of profiling (node --cpu-prof) and of
 * experiments on this machine, kept with the report because they explain its numbers.
 */
const BOUNDS: readonly string[] = [
  '## What bounds Warren here',
  '',
  "- **Build.** The suite runs Warren as a service would run the package: compiled by `tsc` to dist/ (`npm run build`, part of `npm run bench`). Under tsx, which the tests use, Warren embedded does about a fifth less (62,000–63,000 against 70,000–75,000 msgs/s in alternating runs): tsx keeps function names by wrapping every closure it creates.",
  "- **This machine.** Its speed varies from day to day and from machine to machine, and the peers' more than Warren's: RabbitMQ classic did 23,600 msgs/s in W1 on 2026-11-25, 8,000–9,000 on a slow machine on 2026-11-30 (where Warren embedded did 29,000–51,000, and the same code did the same in alternating runs), 18,000–20,000 on the machine of the evening of 2026-11-30, 12,700 on 2026-12-01 at 07:12 and 25,900 on another machine the same day at 09:30 (where Warren over NATS went from 26,600 to 47,600 only, and its goal from met to not met), then 15,200, 13,100 and 14,000 on a third machine at 11:12, 11:32 and 12:15 (full runs; the second and third with the framing buffer kept, below: over NATS 2.42×, 2.06× and 2.24×, mirrored p99 0.91×, 1.13× and 1.06×, so every goal met in the first and all but the mirrored p99 in the others), and 12,600 on a fourth at 16:27 (over NATS 2.30×, mirrored p99 1.12×: rounds 0.66–3.33×). Ratios are taken within a round for that reason, and they move with the peer and with the day; the over-NATS ratio and the mirrored p99 sit close enough to their goals that the same code meets them in one run and not in the next.",
  "- **Embedded, W1.** JavaScript per message on the one thread that also runs the benchmark's producer and consumer (RabbitMQ's broker has the other core). A CPU profile of 200,000 messages (2026-11-30, 127,000 msgs/s): 21 % idle (the producer waiting for the group commit's O_DSYNC write: at most 256 messages are unconfirmed, so each window waits for one sync), 9 % garbage collection, 8 % framing records (5 % of it crc32), 3 % making message ids (randomUUID), and the rest spread thinly over the publish, deliver and ack paths. The harness's own work was a large share until it was cut (same day, same machine, 200,000 messages): reading bodies with a TextDecoder and six clock reads per message (97,000–101,000 → 131,000–141,000 msgs/s together with the hot-path changes below), then a standalone 1 KiB allocation and toFixed per body (127,000 → 152,000–156,000). The dedup window took 11 % until ids that Warren makes for a local publish (no id given: no retry can send them again) stopped going through it. A log's framing buffer was let go whenever a group's write found nothing more behind it, and so allocated and grown again for every window (64, 128, 256, 512 KiB: about a MiB allocated and 448 KiB copied a window of 256); it is now sized for an append at once and kept while the log is busy (2026-12-01, alternating runs of 200,000: 95,000–121,000 against 80,000–107,000 msgs/s, medians 99,000 against 96,000; over NATS within the noise). A W1 run of 50,000 lasts under half a second, so the JIT's warm-up weighs on it more than on longer runs.",
  "- **Over NATS, W1.** The confirm window moves in lockstep: the producer sends its 256 messages as one frame (280 KiB) and gets their confirms in one answer after the leader's write, so msgs/s = 256 ÷ the cycle. Traced per frame on 2026-11-30 (p50 of about 430 cycles, 41,000 msgs/s): the producer turns an answer into the next frame in 0.7 ms; the frame reaches the leader 1.2 ms after the producer starts encoding it (about 0.4 ms of encoding, then the socket write and nats-server); the leader takes 2.0 ms (0.2 ms to the queue actor, 0.5 ms in it: state machine, dedup window, framing the records; 1.2 ms for the O_DSYNC write and the event loop's pick-up of it, of which strace shows 0.7 ms in pwrite64); the answer takes 0.6 ms back. Both processes are about half idle: each step waits for the one before. Today's hot-path work (delivery tags without maps, frames that decode a run of equal headers once, a dedup window in typed arrays) took the leader's actor-to-write from 0.69 to 0.55 ms a window. Tried without a gain: smaller publish frames (140 KiB: 33,000–36,000 against 36,500–37,000 msgs/s; 70 KiB: 28,000–33,000). A synchronous write from the event loop did 5 % more msgs/s but doubled the p50 latency (4.4 → 7–9 ms): rejected. Traced again on 2026-12-01 (mean of 380 cycles, 48,000 msgs/s, 5.3 ms a cycle): 0.25 ms encoding, 1.25 ms to the leader (p50 0.8, p90 2.5: nats-server waits for a core), 0.9 ms to the write, 1.4 ms to the write's return (an O_DSYNC write of 280 KiB alone takes 0.3–0.4 ms here: the rest is the event loop's pick-up, busy meanwhile sending the window's deliveries), 0.8 ms back, 0.6 ms to the next frame. Tried then, without a gain: holding a window's deliveries until its enqueues are written, to free the event loop for the confirm (47,000–49,600 against 49,900–50,900 msgs/s, p50 5.6 against 3.8 ms), publish frames of 64 or 128 KiB again (42,000–43,600 against 50,300–51,500), deferring a settle-only write up to 12 ms instead of 5 (no change), and zeroing 4 MiB ahead of the writes so that they overwrite instead of append (a 280 KiB O_DSYNC write alone: 0.22 against 0.36–0.44 ms; in W1 of 200,000 over NATS 53,100–53,200 against 52,700–54,100 msgs/s, embedded 141,000–146,000 against 149,000–153,000).",
  "- **Mirrored, W1.** Five processes (three nodes, the benchmark's clients, nats-server) share 2 cores, and the confirm window moves in lockstep as over NATS, with a replication round trip in each cycle. A confirm needs a quorum of the in-sync replicas: the leader and the first of its two mirrors to answer (majority commit, 2026-11-30; a takeover then asks the other mirror what it holds, and the one holding more leads). Same machine, same day, W1 alternating with RabbitMQ quorum: 0.86× (3 rounds) with every in-sync mirror awaited, 1.05–1.18× with the quorum; the slower mirror's fsync and scheduling tail no longer sit in the cycle. The node warm-up then went through the measured queues themselves (on queues of its own, placement put the measured queue on another node, whose leader path was still cold): 12,200–12,900 → 14,400–16,800 msgs/s. What bounds it now is CPU: per message, in CPU time read from /proc over a run of 150,000 (2026-11-30): leader 42 µs, each mirror 15 µs, the benchmark's producer and consumer 27 µs, nats-server 31 µs, about 130 µs across 2 cores, so at most about 15,000 msgs/s on that day's machine before the gaps of handing each step between five processes (each process idles 50–75 % of the time in its profile). The leader's share over the non-mirrored leader (28 µs) is framing and shipping the records and the replay state a mirror's snapshot needs. Before: one frame for both mirrors when they stream the same append (20,100 → 23,000 msgs/s on 2026-11-30); confirms before deliveries; a delivery waits for its message's commit, not for its 'delivered' record's; records framed once for the leader's log and both links; mirrors write the frames as received. A run starts once both mirrors of its queues are in sync. RabbitMQ's quorum queue on this single-node broker has one member: it replicates nothing, so the comparison is 3 copies against 1.",
  "- **Mirrored, W1 p99.** A delivery waits for its message's commit, as the confirm does, so with the producer keeping 256 messages unconfirmed the mean publish→deliver latency is at least 256 ÷ msgs/s (Little's law: 9–15 ms at 17,000–29,000 msgs/s). RabbitMQ classic is not bound that way: it delivers before its confirm (its p50, 5–12 ms on 2026-12-01, was under 256 ÷ its msgs/s, 9–20 ms). In lockstep every message of a cycle waits about as long, so Warren's p99 is set by the slowest two or three cycles of about 200. Traced per cycle on 2026-12-01 (timestamps in the leader, both mirrors and the client for every window of 256): a median cycle of 14 ms (on a slow day) was 2.7 ms from the producer's publish to the frame's arrival at the leader, 1.0 ms to the queue actor's append, 5.3 ms to the first mirror's answer (3.7 ms for the 280 KiB frame to reach the mirrors through nats-server, 3.0 ms for the mirror's write and answer), then 4.3 ms from the deliver frame's departure to the consumer's handling of the window's last message. In the slowest cycles one of these steps stretched to 10–29 ms. Three of them were Warren's own, at the same record in every run, and are fixed: creating the next 64 MiB segment at rotation (50–65 ms; the next segment is now made while the active one fills); deleting the full segment right after it (one 64 MiB unlink held every fdatasync on this disk, mounted with 'discard', for 10–13 ms with one writer and 25–43 ms in W1's cycle, on all three replicas at once; a compacted segment is now renamed out of the log and freed 4 MiB at a time, each step synced, and no cycle is slow there any more); and the producer dedup window doubling at 32,768 ids in the leader (2.5 ms of moving and reindexing in each of two rings, 12 ms added to that cycle; now 0.5 ms). What remains is spread through the run without a common cause (per-cycle CPU profiles of all four processes): the processes are idle 53–77 % of the run, so a cycle is a chain of hand-offs across five processes on 2 cores (each waits on the run queue; the leader spends 9 % of its samples in socket writes), with garbage collection in the leader in 4–6 of the ~14 samples of a slow cycle. With fsync 'batch' on the nodes (no fdatasync per group) the p99 stayed at 30–39 ms. Delivering before the commit (not done: a delivery could then vanish in a failover) took the p50 from 16 to 8.5 ms and the p99 from 53–81 to 29–30 ms in alternating runs (2026-11-30). Tried without a gain beyond the noise (alternating runs): deliver frames of 64 KiB instead of up to 512 KiB, publish frames of 64 KiB (worse: 22,000–23,000 against 28,000 msgs/s, p50 25 against 9.6 ms), segments of 8 or 16 MiB (before the stepwise deletion: 16 MiB took the p99 from 24–26 to 19–21 ms in two runs, 8 MiB did not), published bodies copied from Node's buffer pool, a larger young generation (--max-semi-space-size=64), a large initial old space (--initial-old-space-size=256: the client's mark-compacts went, the slow cycles stayed), --single-threaded-gc, publish batches flushed at the end of the tick instead of by setImmediate, not awaiting a handler that returns no promise, and segments zero-filled ahead of their writes (with three writers a group's append took p50 2.3–2.9 against 3.2–3.3 ms, but its p99 was no better: 16–21 against 17–20 ms, the disk's own stalls). On 2026-12-01, on a third machine (alternating runs of 100,000, 4 pairs each; what varies between runs of one setting, 28–40 ms of p99, is as large as any difference): settlements held up to 5 ms to go with the next window's enqueues, so that each replica writes, and the leader ships, once a cycle instead of twice (20,000–21,400 against 19,500–20,500 msgs/s, p99 30–36 against 28–39 ms); the NATS client's buffer for an incoming 280 KiB frame allocated at its size once instead of grown from 64 to 192 to 448 KiB (52–55 against 56–59 scavenges in the leader a run, msgs/s and p99 unchanged); and confirms sent after the window's deliveries rather than before (p99 27–36 against 30–40 ms). What those runs showed instead (--trace-gc): every scavenge in the leader (one each 130 ms or so, 2–17 ms) is started by external memory pressure, the bodies and frames in ArrayBuffers, of which a window allocates about 2.5 MiB by a count of its copies, and a mark-compact follows every 0.5–0.9 s (4–12 ms on the main thread, with a heap of 14–30 MB); and a socket write in the leader takes 0.6 ms of wall time for a 280 KiB frame, and in a mirror 0.26 ms for an answer of 90 bytes, against 0.23 and 0.013 ms with the machine otherwise idle: the writer wakes its reader, and on 2 cores with five processes it often gives up its core to it there (15 % of the leader's profile is time inside socket writes, but its system CPU time is under a fifth of its total).",
  `- **Cold nodes.** Warren starts with every run (its node processes, or embedded, the run's own process), where the peers' brokers are long-running: each session first puts ${num(ENGINE_WARMUP_ENQUEUES, 0)} enqueues through the nodes, on the queues it then measures, drained (a fan-out publish counts once per queue; bench/systems/warren-nats.ts), and the embedded run's warm-up is as long, so that the measured run does not pay their JIT warm-up. With 10,000, a W1 run over NATS still started cold: p99 18–26 ms in its first fifth against 13–15 ms after, and 36,000–38,000 against 46,000–48,000 msgs/s with 40,000 (2026-11-30).`,
  '- **Memory.** A waiting message costs a few bytes (its seq in the ready line and 20 bytes of log index); bodies beyond a 32 MiB window per queue stay on disk and are read back in batches when delivered. Without a heap cap, V8 lets garbage grow the heap well past the live set, so the backlog figures run the node with `--max-old-space-size=128`, as a memory-bounded service would be run.',
  '',
];

export function report(input: ReportInput): string {
  const m = input.machine;
  const d = DEFAULTS.params;
  const available = input.systems.flatMap((s) => (s.status.kind === 'available' ? [s.status.info.server] : []));
  const out: string[] = [
    '# Warren benchmarks',
    '',
    `Generated by \`${input.command}\` on ${input.startedAt.toISOString()} in ${num(input.seconds / 60, 1)} min. Every figure is the median of its workload's rounds (${input.workloads.map((w) => `${w.toUpperCase()}: ${input.rounds[w]}`).join(', ')}); in each round the systems run one after the other in a rotating order, each run in a fresh process. "× classic" is the ratio to ${name(input, BASELINE)} in the same round (median over the rounds). Benchmarks are not tests: nothing here is asserted in the test suite.`,
    '',
    '## Machine',
    '',
    `- ${m.cores} cores, ${m.cpu}, ${num(m.memoryGiB, 1)} GiB RAM, ${m.os}`,
    `- Node ${m.node}`,
    `- Servers (loopback): ${[...new Set(available)].join('; ') || 'none reachable'}`,
    `- 1-minute load average: ${num(m.loadAtStart, 2)} at the start, ${num(input.loadAtEnd, 2)} at the end (the machine is shared; other work skews all systems alike within a round, which is why ratios are taken per round)`,
    '',
    '## Goals (W1, ratios within a round)',
    '',
    goalsTable(input),
    '',
  ];
  for (const w of input.workloads) {
    out.push(`## ${workloads[w].title}`, '', DESCRIPTION[w](input.params), '', workloadTable(input, w), '');
    if (w === 'w1') out.push(`![W1 msgs/s](${input.chartLink})`, '');
  }
  if (input.storage) out.push('## Storage (bench/storage.ts)', '', storageSection(input.storage), '');
  if (input.failover) {
    out.push('## Failover of a mirrored queue (bench/failover.ts)', '',
      "Three node processes hold a queue with two mirrors (minInSync 2); a client node publishes 1 KiB messages with confirms from 32 concurrent publishers, retrying a refused publish under the same id. Then the leader's process is killed, or paused (SIGSTOP) until confirms have flowed again for 3 s (60 s at most; the lease is 2 s). The figure is how long publishing stalled: lease expiry (2 s), the takeover by CAS, the new leader's recovery of its log, and the other mirror's return into sync (it follows the new leader from where both stood in the old leader's stream; until 2026-12-01 it got a snapshot of the whole backlog instead, and a backlog of 200,000 × 1 KiB took the stall from 3.0 to 10.8 s, where it now takes it to 3.9 s). One trial each here; `npx tsx bench/failover.ts 5 100000` runs 5 of each with a backlog of 100,000.", '',
      storageSection(input.failover), '');
  }
  out.push(
    '## Systems and what a confirm means',
    '',
    systemsTable(input),
    '',
    ...BOUNDS,
    '## Method',
    '',
    `- Run: \`npm run bench\` (= \`npm run build && node dist/bench/run.js\`; from the sources: \`npx tsx bench/run.ts\`). Flags (or environment variables): \`--n\` (BENCH_N, W1 messages), \`--w2-n\` (BENCH_W2_N), \`--w3-burst\` (BENCH_W3_BURST), \`--w3-rate\` (BENCH_W3_RATE), \`--rounds\` (BENCH_ROUNDS, W1), \`--w2-rounds\` (BENCH_W2_ROUNDS), \`--w3-rounds\` (BENCH_W3_ROUNDS), \`--only warren-embedded,rabbitmq-classic\`, \`--workloads w1,w3\`, \`--out FILE\`.`,
    `- This run: W1 N = ${num(input.params.n, 0)}, W2 N = ${num(input.params.w2n, 0)}, W3 burst = ${num(input.params.w3Burst, 0)} at ${num(input.params.w3Rate, 0)} msgs/s. The defaults (W1 N = ${num(d.n, 0)}, W2 N = ${num(d.w2n, 0)}; ${DEFAULTS.rounds} rounds of W1, ${DEFAULTS.w2Rounds} of W2; W3 burst = ${num(d.w3Burst, 0)} at ${num(d.w3Rate, 0)} msgs/s, ${DEFAULTS.w3Rounds} round) are sized so that \`npm run bench\` finishes in under 10 minutes on a 2-core machine; the issue's W3 burst is 200,000 (\`--w3-burst 200000\`, about 100 s of drain per system per round). Each measured run is preceded, in the same process, by an unmeasured warm-up of ${num(WARMUP_N, 0)} messages on its own queues (Warren embedded, whose engine starts with the process: ${num(ENGINE_WARMUP_ENQUEUES, 0)} enqueues, as its node processes get; Warren over NATS: only the warm-up of its fresh nodes, see Cold nodes above).`,
    '- Every system runs the same loop (bench/drive.ts): consumers start first; the producer keeps at most 256 publishes unconfirmed; each message carries its sequence number and publish time; the consumer acks every delivery. A run is complete when every queue acked N distinct messages; one that makes no progress for 20 s is reported incomplete, with what it delivered.',
    '- Durability differs by system and is stated above: Warren and RabbitMQ confirm after fsync; JetStream and Redis confirm before the data is fsync\'d, with their default settings.',
    '- A system that cannot be reached or loaded is listed as unavailable with the reason; a run that fails is listed with its error. Queues, streams and keys are named `wbench-<run id>-…` and deleted after each run, also after a failed one.',
    '',
  );
  for (const w of input.workloads) out.push(`### ${workloads[w].title}: every round`, '', perRound(input, w), '');
  return out.join('\n');
}
