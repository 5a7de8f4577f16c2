// node.stats(): what each queue holds and has done, and who is in the cluster.
import type { QueueSnapshot } from '../queues/queue-machine.ts';
import type { RecoveryReport } from '../storage/storage.ts';
import type { NodeId, QueueName } from './ids.ts';
import type { Rates } from './rates.ts';
import type { NodeCounters } from './warren.ts';

export interface MirrorInfo {
  readonly nodeId: string;
  readonly inSync: boolean;
  readonly lag: number;
  /** Snapshots the leader sent it to start it over (a mirror that resumed after a takeover got none). */
  readonly snapshots: number;
}

export interface QueueStats {
  readonly name: string;
  /** 'down': its actor stopped after crashing too often, and the node opens it again after a pause. */
  readonly state: 'running' | 'down';
  readonly ready: number;
  readonly delayed: number;
  readonly unacked: number;
  readonly consumers: number;
  readonly leader: string;
  readonly epoch: number;
  readonly mirrors: readonly MirrorInfo[];
  readonly published: number;
  readonly duplicates: number;
  readonly refused: number;
  readonly delivered: number;
  readonly redelivered: number;
  readonly acked: number;
  readonly deadLettered: number;
  readonly expired: number;
  readonly dropped: number;
  readonly staleSettlements: number;
  /** Damaged records the queue's last recovery dropped (torn tail, checksum failures), and why. */
  readonly recovery: { readonly droppedRecords: number; readonly droppedBytes: number; readonly problems: readonly string[] };
  /**
   * Per second, over about the last 5 s (as RabbitMQ's management rates): the node samples its queues'
   * counters every second, so a rate lags the work by up to a second and is 0 in a queue's first second.
   */
  readonly rates: Rates;
}

export interface NodeInfo {
  readonly nodeId: string;
  readonly up: boolean;
  readonly self: boolean;
}

export interface Stats {
  readonly queues: readonly QueueStats[];
  readonly nodes: readonly NodeInfo[];
  readonly node: NodeCounters & {
    readonly actorDeadLetters: number;
    /** Frames refused on this node's subjects, by reason (garbage, wrong version, oversized, ...). */
    readonly rejectedFrames: Readonly<Record<string, number>>;
  };
}

export function collectStats(
  nodeId: NodeId,
  counters: NodeCounters,
  queues: readonly {
    name: QueueName; state: QueueStats['state']; snapshot: QueueSnapshot | undefined; recovery: RecoveryReport | undefined; rates: Rates;
    /** Mirrored queues: leader, epoch and mirrors as the leader sees them. */
    ha?: { leader: string; epoch: number; mirrors: readonly MirrorInfo[] };
  }[],
  nodes: readonly NodeInfo[],
  actorDeadLetters: number,
  rejectedFrames: Readonly<Record<string, number>>,
): Stats {
  return {
    queues: queues.map(({ name, state, snapshot, recovery, rates, ha }) => {
      const s = snapshot ?? { ready: 0, delayed: 0, unacked: 0, consumers: 0, counters: undefined };
      const c = s.counters ?? { published: 0, duplicates: 0, refused: 0, delivered: 0, redelivered: 0, acked: 0, deadLettered: 0, expired: 0, dropped: 0, staleSettlements: 0 };
      return {
        name, state, ready: s.ready, delayed: s.delayed, unacked: s.unacked, consumers: s.consumers,
        leader: nodeId, epoch: 0, mirrors: [], ...ha,
        ...c,
        recovery: recovery ?? { droppedRecords: 0, droppedBytes: 0, problems: [] },
        rates,
      };
    }),
    nodes,
    node: { ...counters, actorDeadLetters, rejectedFrames },
  };
}
