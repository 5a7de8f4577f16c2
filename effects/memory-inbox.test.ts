// The in-memory inbox through a real node: every fault of testing.ts, and the same faults without
// exactlyOnce, which repeat effects.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { exactlyOnce } from '../index.ts';
import { memoryNode, until } from '../node/testing.ts';
import { memoryStore } from './memory-inbox.ts';
import { storeProperty } from './testing.ts';

describe('exactlyOnce with the memory inbox', () => {
  it('applies each effect once across redeliveries; without exactlyOnce the same faults repeat effects', () => storeProperty<string[]>({
    name: 'memory inbox',
    runs: 15,
    transactional: true,
    async open() {
      const store = memoryStore<string>();
      return { store, effect: async (m, tx) => { tx.push(m.text()); }, committed: store.committed };
    },
  }));
});

describe('exactlyOnce on a dead-letter queue', () => {
  it('applies each dead letter: one message that died in two queues is two effects', async () => {
    const node = await memoryNode();
    try {
      await node.declareExchange('orders', { type: 'fanout' });
      for (const q of ['billing', 'shipping']) {
        await node.declareQueue(q, { deadLetterQueue: 'failed' });
        await node.bindQueue(q, 'orders');
        await node.consume(q, (m) => m.reject(), { ack: 'manual' });
      }
      await node.publish({ exchange: 'orders' }, { order: 1 }, { id: 'order-1' });
      const inbox = memoryStore<string>();
      const outcomes: string[] = [];
      await node.consume('failed', exactlyOnce(inbox, async (m, tx) => { tx.push(`compensate ${m.headers['x-death-queue']}`); }, (o) => { outcomes.push(o); }), { ack: 'manual' });
      await until(() => outcomes.length === 2, 'both dead letters handled');
      assert.deepEqual(outcomes, ['applied', 'applied']);
      assert.deepEqual([...inbox.committed].sort(), ['compensate billing', 'compensate shipping']);
    } finally {
      await node.stop();
    }
  });
});
