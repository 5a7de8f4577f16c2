// metricsRegistry(node): what a Prometheus scrape of a node shows, read by a Prometheus text parser.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidName, metricsRegistry } from '../index.ts';
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
});
