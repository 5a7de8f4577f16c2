// stats().rates through the public API: they show recent work, and fall to 0 once the counters rest.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { memoryNode, texts, until } from './testing.ts';

describe('stats().rates', () => {
  it('are positive after a burst of publishes and deliveries, and 0 once the window has passed with nothing new', async () => {
    const node = await memoryNode();
    try {
      await node.declareQueue('rated');
      await Promise.all(texts(200).map((t) => node.publish({ queue: 'rated' }, t)));
      let acked = 0;
      const consumer = await node.consume('rated', () => { acked++; });
      await until(() => acked === 200, '200 messages handled');
      await consumer.cancel();
      const rates = () => node.stats().queues.find((q) => q.name === 'rated')!.rates;
      await until(() => rates().ack > 0, 'an ack rate');
      const busy = rates();
      assert.ok(busy.publish > 0 && busy.deliver > 0 && busy.ack > 0, JSON.stringify(busy));
      // A bound for the wait, not a timing claim: the window is 5 s, sampled every second.
      // All three at once: a sample between the last publish and the last ack drops them a second apart.
      await until(() => Object.values(rates()).every((r) => r === 0), 'the rates back to 0', 15_000);
      const q = node.stats().queues.find((s) => s.name === 'rated')!;
      assert.deepEqual([q.published, q.delivered, q.acked], [200, 200, 200]);
    } finally {
      await node.stop();
    }
  });
});
