// The goals of issue 7, judged on W1 by ratios taken within one round (same machine state for
// both systems), and the median over the rounds.
import { ratiosByRound, type Outcome } from './aggregate.ts';
import { p99, rate, type Metric } from './metrics.ts';
import { median } from './stats.ts';
import type { SystemId } from './systems/registry.ts';

export interface Goal {
  readonly text: string;
  readonly system: SystemId;
  readonly base: SystemId;
  readonly metric: Metric;
  /** The ratio system / base must be at least (higher is better) or at most (lower is better) this. */
  readonly target: number;
}

export const goals: readonly Goal[] = [
  { text: 'Warren embedded ≥ 5× RabbitMQ classic (W1 msgs/s)', system: 'warren-embedded', base: 'rabbitmq-classic', metric: rate, target: 5 },
  { text: 'Warren over NATS ≥ 2× RabbitMQ classic (W1 msgs/s)', system: 'warren-nats', base: 'rabbitmq-classic', metric: rate, target: 2 },
  { text: 'Warren mirrored ≥ 1× RabbitMQ quorum (W1 msgs/s)', system: 'warren-mirrored', base: 'rabbitmq-quorum', metric: rate, target: 1 },
  { text: "Warren embedded's W1 p99 ≤ RabbitMQ classic's", system: 'warren-embedded', base: 'rabbitmq-classic', metric: p99, target: 1 },
  { text: "Warren over NATS's W1 p99 ≤ RabbitMQ classic's", system: 'warren-nats', base: 'rabbitmq-classic', metric: p99, target: 1 },
  { text: "Warren mirrored's W1 p99 ≤ RabbitMQ classic's", system: 'warren-mirrored', base: 'rabbitmq-classic', metric: p99, target: 1 },
];

export type Verdict =
  | { readonly kind: 'judged'; readonly ratio: number; readonly perRound: readonly number[]; readonly met: boolean }
  | { readonly kind: 'not measured' };

export function judge(goal: Goal, outcomes: readonly Outcome[]): Verdict {
  const perRound = ratiosByRound(outcomes, 'w1', goal.metric, goal.system, goal.base);
  if (perRound.length === 0) return { kind: 'not measured' };
  const r = median(perRound);
  return { kind: 'judged', ratio: r, perRound, met: goal.metric.better === 'higher' ? r >= goal.target : r <= goal.target };
}
