// From the per-run outcomes to table rows: medians over the rounds, and ratios to a baseline taken
// round by round (the baseline of the same round), then their median.
import type { DriveResult } from './drive.ts';
import { metrics, type Metric } from './metrics.ts';
import type { Reply } from './protocol.ts';
import { median, ratio } from './stats.ts';
import type { SystemId } from './systems/registry.ts';
import type { WorkloadId } from './workloads.ts';

export interface Outcome {
  readonly round: number;
  readonly workload: WorkloadId;
  readonly system: SystemId;
  readonly reply: Reply;
}

export interface Cell {
  readonly median: number;
  /** Median of this round's value / the baseline's value in the same round. */
  readonly ratio: number;
}

export interface Correctness {
  /** Distinct deliveries a complete run has: N × queues. */
  readonly expected: number;
  /** The fewest distinct deliveries of any run. */
  readonly worstDistinct: number;
  readonly duplicates: number;
  readonly corrupt: number;
  /** Runs that ended with a tally (complete or not); the others failed with an error. */
  readonly tallied: number;
  readonly completeRuns: number;
}

export interface Row {
  readonly system: SystemId;
  readonly runs: number;
  readonly cells: ReadonlyMap<string, Cell>;
  readonly correctness?: Correctness;
  /** Errors of the failed runs, deduplicated. */
  readonly errors: readonly string[];
}

/** Only complete runs give figures; an incomplete one still shows up in correctness. */
function complete(outcomes: readonly Outcome[], workload: WorkloadId, system: SystemId): Map<number, DriveResult> {
  const byRound = new Map<number, DriveResult>();
  for (const o of outcomes) {
    if (o.workload === workload && o.system === system && o.reply.ok && o.reply.result.complete) byRound.set(o.round, o.reply.result);
  }
  return byRound;
}

export function ratiosByRound(outcomes: readonly Outcome[], workload: WorkloadId, metric: Metric, system: SystemId, base: SystemId): number[] {
  const mine = complete(outcomes, workload, system);
  const theirs = complete(outcomes, workload, base);
  return [...mine].flatMap(([round, r]) => {
    const b = theirs.get(round);
    return b ? [ratio(metric.value(r), metric.value(b))] : [];
  });
}

export function row(outcomes: readonly Outcome[], workload: WorkloadId, system: SystemId, base: SystemId): Row {
  const mine = outcomes.filter((o) => o.workload === workload && o.system === system);
  const results = mine.flatMap((o) => (o.reply.ok ? [o.reply.result] : []));
  const done = [...complete(outcomes, workload, system).values()];
  const cells = new Map(metrics[workload].map((m) => [m.key, {
    median: median(done.map((r) => m.value(r))),
    ratio: median(ratiosByRound(outcomes, workload, m, system, base)),
  }]));
  const first = results[0];
  const correctness = first && {
    expected: first.n * first.queues,
    worstDistinct: Math.min(...results.map((r) => r.distinct)),
    duplicates: results.reduce((s, r) => s + r.duplicates, 0),
    corrupt: results.reduce((s, r) => s + r.corrupt, 0),
    tallied: results.length,
    completeRuns: done.length,
  };
  const errors = [...new Set(mine.flatMap((o) => (o.reply.ok ? [] : [o.reply.error])))];
  return { system, runs: mine.length, cells, ...(correctness ? { correctness } : {}), errors };
}
