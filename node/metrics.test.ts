// metricsRegistry(node): what a Prometheus scrape of a node shows, read by a Prometheus text parser.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidName, metricsRegistry, type QueueStats, type Stats } from '../index.ts';
import { memoryNode, promSample, texts, until } from './testing.ts';

describe('metricsRegistry', () => {
  it("shows each queue's gauges and counters, and the node's, labelled by node and queue, as they are at the scrape", async () => {
    const node = await memoryNode();
    try {
      const registry = metricsRegistry(node);
      assert.match(registry.contentType, /^text\/plain/);
      await node.declareQueue('orders', { maxLength: 3, overflow: 'reject-publish' });
      await Promise.all(texts(3).map((t, i) => node.publish({ queue: 'orders' }, t, { id: `o${i}` })));
      await node.publish({ queue: 'orders' }, 'again', { id: 'o0' });
      await assert.rejects(node.publish({ queue: 'orders' }, 'one too many'));
      await assert.rejects(node.declareQueue('bad name!'), InvalidName);
      let seen = 0;
      const consumer = await node.consume('orders', () => { seen++; }, { prefetch: 1 });
      await until(() => seen === 3 && node.stats().queues.find((q) => q.name === 'orders')!.acked === 3, '3 messages acked');

      const text = await registry.metrics();
      const queue = { node: node.nodeId, queue: 'orders' };
      const counter = (name: string) => promSample(text, name, 'COUNTER', queue);
      assert.equal(counter('warren_queue_messages_published_total'), 3);
      assert.equal(counter('warren_queue_messages_delivered_total'), 3);
      assert.equal(counter('warren_queue_messages_acked_total'), 3);
      assert.equal(counter('warren_queue_messages_duplicate_total'), 1);
      assert.equal(counter('warren_queue_messages_refused_total'), 1);
      assert.equal(counter('warren_queue_messages_redelivered_total'), 0);
      assert.equal(promSample(text, 'warren_queue_messages_ready', 'GAUGE', queue), 0);
      assert.equal(promSample(text, 'warren_queue_up', 'GAUGE', queue), 1);
      assert.equal(promSample(text, 'warren_queue_consumers', 'GAUGE', queue), 1);
      assert.equal(promSample(text, 'warren_node_invalid_input_total', 'COUNTER', { node: node.nodeId }), 1);
      assert.equal(promSample(text, 'warren_cluster_node_up', 'GAUGE', { node: node.nodeId, peer: node.nodeId }), 1);

      // The next scrape reads stats() again: a consumer gone, a message waiting.
      await consumer.cancel();
      await node.publish({ queue: 'orders' }, 'later');
      const next = await registry.metrics();
      assert.equal(promSample(next, 'warren_queue_consumers', 'GAUGE', queue), 0);
      assert.equal(promSample(next, 'warren_queue_messages_ready', 'GAUGE', queue), 1);
      assert.equal(promSample(next, 'warren_queue_messages_published_total', 'COUNTER', queue), 4);
    } finally {
      await node.stop();
    }
  });

  it("shows a mirrored queue's mirrors, frames refused by reason and peers down, from any source of stats", async () => {
    // A cluster's stats without a cluster: the shape its leader reports.
    const queue: QueueStats = {
      name: 'ha', state: 'running', ready: 0, delayed: 0, unacked: 0, consumers: 0, leader: 'a', epoch: 3,
      mirrors: [{ nodeId: 'b', inSync: true, lag: 0, snapshots: 1 }, { nodeId: 'c', inSync: false, lag: 42, snapshots: 3 }],
      published: 0, duplicates: 0, refused: 0, delivered: 0, redelivered: 0, acked: 0, deadLettered: 0, expired: 0, dropped: 0, staleSettlements: 0,
      recovery: { droppedRecords: 0, droppedBytes: 0, problems: [] }, rates: { publish: 0, deliver: 0, ack: 0 },
    };
    const stats: Stats = {
      queues: [queue],
      nodes: [{ nodeId: 'a', up: true, self: true }, { nodeId: 'c', up: false, self: false }],
      node: { invalidInput: 0, unroutable: 2, errors: 1, actorDeadLetters: 0, rejectedFrames: { garbage: 3, 'wrong-version': 1 } },
    };
    const text = await metricsRegistry({ nodeId: 'a', stats: () => stats }).metrics();
    const gauge = (name: string, labels: Record<string, string>) => promSample(text, name, 'GAUGE', { node: 'a', ...labels });
    assert.equal(gauge('warren_queue_mirror_in_sync', { queue: 'ha', mirror: 'b' }), 1);
    assert.equal(gauge('warren_queue_mirror_in_sync', { queue: 'ha', mirror: 'c' }), 0);
    assert.equal(gauge('warren_queue_mirror_lag', { queue: 'ha', mirror: 'c' }), 42);
    assert.equal(gauge('warren_cluster_node_up', { peer: 'c' }), 0);
    const counter = (name: string, labels: Record<string, string> = {}) => promSample(text, name, 'COUNTER', { node: 'a', ...labels });
    assert.equal(counter('warren_queue_mirror_snapshots_total', { queue: 'ha', mirror: 'c' }), 3);
    assert.equal(counter('warren_node_rejected_frames_total', { reason: 'garbage' }), 3);
    assert.equal(counter('warren_node_rejected_frames_total', { reason: 'wrong-version' }), 1);
    assert.equal(counter('warren_node_unroutable_total'), 2);
    assert.equal(counter('warren_node_errors_total'), 1);
  });
});
