// The Redis inbox against the real Redis on 127.0.0.1:6379 (no mock: the claim and the record are Lua
// scripts, and only Redis runs them): the fault schedules through a real node, and the fence.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import type { DeliveryKey } from './inbox-store.ts';
import { redisStore, type RedisInbox } from './redis-inbox.ts';
import { storeProperty } from './testing.ts';

describe('exactlyOnce with the Redis inbox (127.0.0.1:6379)', () => {
  // Fail a command at once rather than retry it for seconds when Redis is not there.
  const redis = new Redis({ host: '127.0.0.1', port: 6379, maxRetriesPerRequest: 1 });
  // This run's keys only, so that parallel runs and earlier ones cannot collide, and all deleted after.
  const runPrefix = `warren-test:inbox:${process.pid}-${Date.now()}:`;
  let stores = 0;
  const fresh = (): RedisInbox => redisStore(redis, { prefix: `${runPrefix}${stores++}:`, ttlMs: 60_000 });
  after(async () => {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${runPrefix}*`, 'COUNT', 1000);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
    await redis.quit();
  });

  it('applies each effect once, twice only after a crash between the effect and its record', () => storeProperty<void>({
    name: 'redis inbox',
    runs: 15,
    transactional: false,
    async open() {
      const committed: string[] = [];
      return { store: fresh(), effect: async (m) => { committed.push(m.text()); }, committed };
    },
  }));

  const delivery = (deliveryCount: number): DeliveryKey => ({ queue: 'q', id: 'm', deliveryCount });

  it('fences a delivery that comes after a newer one claimed the message', async () => {
    const inbox = fresh();
    const effects: number[] = [];
    let entered!: () => void;
    const inside = new Promise<void>((resolve) => { entered = resolve; });
    let release!: () => void;
    const held = new Promise<void>((resolve) => { release = resolve; });
    const newer = inbox.run(delivery(2), async () => { entered(); await held; effects.push(2); });
    await inside;
    assert.equal(await inbox.run(delivery(1), async () => { effects.push(1); }), 'fenced');
    release();
    assert.equal(await newer, 'applied');
    assert.equal(await inbox.run(delivery(1), async () => { effects.push(1); }), 'duplicate');
    assert.deepEqual(effects, [2]);
  });

  it('lets a redelivery take over the claim of a delivery that crashed before its record', async () => {
    const inbox = fresh();
    const effects: number[] = [];
    await assert.rejects(inbox.run(delivery(1), async () => { throw new Error('crash: claimed, never recorded'); }), /crash/);
    assert.equal(await inbox.run(delivery(2), async () => { effects.push(2); }), 'applied');
    assert.equal(await inbox.run(delivery(3), async () => { effects.push(3); }), 'duplicate');
    assert.deepEqual(effects, [2]);
  });
});
