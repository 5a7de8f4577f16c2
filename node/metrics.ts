// A node's stats() as Prometheus metrics, for the CLI's HTTP port or a service's own server. Every value
// is read from stats() when Prometheus scrapes (prom-client's collect()), so nothing is counted twice.
import { Counter, Gauge, Registry } from 'prom-client';
import type { MirrorInfo, QueueStats, Stats } from './stats.ts';

/** A Warren node, or anything else that has its stats. */
export interface StatsSource {
  readonly nodeId: string;
  stats(): Stats;
}

type Labels = Readonly<Record<string, string>>;

interface Family {
  readonly help: string;
  readonly labels: readonly string[];
  readonly samples: (stats: Stats) => readonly (readonly [Labels, number])[];
}

const perQueue = (help: string, value: (q: QueueStats) => number): Family => ({
  help, labels: ['queue'], samples: (s) => s.queues.map((q) => [{ queue: q.name }, value(q)]),
});

/** Only a mirrored queue's leader has mirrors in its stats. */
const perMirror = (help: string, value: (m: MirrorInfo) => number): Family => ({
  help, labels: ['queue', 'mirror'], samples: (s) => s.queues.flatMap((q) => q.mirrors.map((m) => [{ queue: q.name, mirror: m.nodeId }, value(m)] as const)),
});

const perNode = (help: string, value: (n: Stats['node']) => number): Family => ({
  help, labels: [], samples: (s) => [[{}, value(s.node)]],
});

/** A name that ends in _total is a counter (the Prometheus convention), any other a gauge. */
const FAMILIES: Readonly<Record<string, Family>> = {
  warren_queue_up: perQueue('1 while the queue serves, 0 while it is down (its actor kept crashing; it opens again after a pause)', (q) => (q.state === 'running' ? 1 : 0)),
  warren_queue_messages_ready: perQueue('Messages waiting for a consumer', (q) => q.ready),
  warren_queue_messages_delayed: perQueue('Messages waiting for their delay to end', (q) => q.delayed),
  warren_queue_messages_unacked: perQueue('Messages delivered and not yet settled', (q) => q.unacked),
  warren_queue_consumers: perQueue('Consumers of the queue', (q) => q.consumers),
  warren_queue_messages_published_total: perQueue('Messages published to the queue and confirmed (duplicates not counted)', (q) => q.published),
  warren_queue_messages_delivered_total: perQueue('Deliveries to consumers, redeliveries included', (q) => q.delivered),
  warren_queue_messages_redelivered_total: perQueue('Deliveries of a message delivered before', (q) => q.redelivered),
  warren_queue_messages_acked_total: perQueue('Messages acked', (q) => q.acked),
  warren_queue_messages_dead_lettered_total: perQueue('Messages moved to the dead-letter queue', (q) => q.deadLettered),
  warren_queue_messages_expired_total: perQueue('Messages past their TTL', (q) => q.expired),
  warren_queue_messages_dropped_total: perQueue('Messages dropped from the head of a full queue (drop-head overflow)', (q) => q.dropped),
  warren_queue_messages_refused_total: perQueue('Publishes refused by a full queue (reject-publish overflow)', (q) => q.refused),
  warren_queue_messages_duplicate_total: perQueue('Publishes of a message id the queue had already (confirmed, stored once)', (q) => q.duplicates),
  warren_queue_mirror_in_sync: perMirror('1 while the mirror is in sync, 0 while it lags or catches up', (m) => (m.inSync ? 1 : 0)),
  warren_queue_mirror_lag: perMirror('Appends the mirror has not acknowledged yet', (m) => m.lag),
  warren_queue_mirror_snapshots_total: perMirror('Snapshots of the whole live state the leader sent the mirror to start it over', (m) => m.snapshots),
  warren_node_errors_total: perNode('Errors the node handled without failing a call (storage faults, crashed actors, ...)', (n) => n.errors),
  warren_node_invalid_input_total: perNode('Calls refused for bad input (names, arguments, unknown queues or exchanges)', (n) => n.invalidInput),
  warren_node_unroutable_total: perNode('Messages published to an exchange that routed them to no queue', (n) => n.unroutable),
  warren_node_actor_dead_letters_total: perNode('Actor messages that reached no actor (it had stopped, or its mailbox was full)', (n) => n.actorDeadLetters),
  warren_node_rejected_frames_total: {
    help: 'Frames refused on this node\'s subjects, by reason', labels: ['reason'],
    samples: (s) => Object.entries(s.node.rejectedFrames).map(([reason, n]) => [{ reason }, n]),
  },
  warren_cluster_node_up: {
    help: '1 while this node hears from the node (heartbeats), 0 once it is marked down', labels: ['peer'],
    samples: (s) => s.nodes.map((n) => [{ peer: n.nodeId }, n.up ? 1 : 0]),
  },
};

/** A registry of its own (not prom-client's global one): serve `await registry.metrics()` as `registry.contentType`. */
export function metricsRegistry(source: StatsSource): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ node: source.nodeId });
  // A scrape calls every metric's collect() in one turn: they share one stats(), and so agree.
  let scrape: Stats | undefined;
  const stats = () => {
    if (scrape === undefined) {
      scrape = source.stats();
      queueMicrotask(() => { scrape = undefined; });
    }
    return scrape;
  };
  for (const [name, family] of Object.entries(FAMILIES)) {
    const config = { name, help: family.help, labelNames: family.labels, registers: [registry] };
    // reset(): a queue that closed here since the last scrape is gone from it.
    if (name.endsWith('_total')) {
      new Counter({ ...config, collect() { this.reset(); for (const [labels, value] of family.samples(stats())) this.inc(labels, value); } });
    } else {
      new Gauge({ ...config, collect() { this.reset(); for (const [labels, value] of family.samples(stats())) this.set(labels, value); } });
    }
  }
  return registry;
}
