// Mirrored queues under real faults: three server node processes on a nats-server of the test's own
// hold a queue with two mirrors, while a producer process publishes with confirms (retrying a refused
// publish under the same id) and a consumer process acks. A fast-check seed orders three faults: the
// leader's node killed with SIGKILL (then started again), a node paused with SIGSTOP past its lease
// (then SIGCONT: a paused leader was deposed meanwhile and must not confirm anything), and a node
// restarted. After healing and draining: no confirmed message lost, and every repeated delivery
// flagged redelivered. One schedule in CI (WARREN_RUNS=N for more). A mirror paused past its frames'
// timeout, restarted cleanly, or killed and restarted, catches up from the leader's log without a
// snapshot, and its copy then serves every message.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Warren } from '../index.ts';
import { until } from '../node/testing.ts';
import { defaultLeadership } from '../replication/leadership.ts';
import { NatsServer } from '../transport/nats-server.ts';
import { ClusterHarness, type Worker, type WorkerOptions } from './cluster-harness.ts';
import { propertyParams } from './params.ts';

type Fault = 'kill-leader' | 'pause' | 'restart';
const FAULTS: readonly Fault[] = ['kill-leader', 'pause', 'restart'];
const NODES = ['n1', 'n2', 'n3'];
const QUEUE = 'ha';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const haOf = async (observer: Warren) => (await observer.clusterStats()).queues.find((q) => q.name === QUEUE);
/** Waits (up to `ms`) for the consumer to get every message the producer saw confirmed; what it still misses is lost. */
async function drained(producer: Worker, consumer: Worker, ms: number) {
  const confirmed = new Set(producer.confirmed);
  const delivered = () => new Set(consumer.got.map((g) => g.id));
  await until(() => [...confirmed].every((id) => delivered().has(id)), 'every confirmed message delivered', ms).catch(() => {});
  const got = delivered();
  return { confirmed, delivered: got, lost: [...confirmed].filter((id) => !got.has(id)) };
}

/** The queue once both its mirrors are in sync. */
async function settledOf(observer: Warren, what: string) {
  const end = Date.now() + 60_000;
  for (;;) {
    const q = await haOf(observer).catch(() => undefined);
    if (q && q.mirrors.filter((m) => m.inSync).length === 2) return q;
    if (Date.now() > end) throw new Error(`gave up waiting for: ${what}`);
    await sleep(200);
  }
}

describe('mirrored queues under SIGKILL, SIGSTOP and restarts (3 node processes)', () => {
  let server: NatsServer;
  before(async () => { server = await NatsServer.start(); });
  after(async () => { await server.stop(); });

  it('loses no confirmed message, flags every repeated delivery, and a deposed leader confirms nothing', async () => {
    const schedule = fc.record({
      order: fc.shuffledSubarray([...FAULTS], { minLength: FAULTS.length, maxLength: FAULTS.length }),
      targets: fc.array(fc.nat({ max: NODES.length - 1 }), { minLength: FAULTS.length, maxLength: FAULTS.length }),
    });
    const params = propertyParams<[{ order: Fault[]; targets: number[] }]>('mirrored faults', 1);
    await fc.assert(fc.asyncProperty(schedule, async ({ order, targets }) => {
      const c = await ClusterHarness.create(server.url);
      const observer = await Warren.start({ nats: server.url, cluster: c.cluster, role: 'client', nodeId: 'observer' });
      try {
        const opts = (id: string): WorkerOptions => ({ role: 'serve', id, queue: '' });
        const nodes = new Map<string, Worker>();
        for (const id of NODES) nodes.set(id, await c.start(opts(id)));
        await until(() => observer.stats().nodes.filter((n) => n.up && NODES.includes(n.nodeId)).length === NODES.length, 'three servers seen');
        await observer.declareQueue(QUEUE, { mirrors: 2 });
        const ha = () => haOf(observer);
        const settled = (what: string) => settledOf(observer, what);
        await settled('the queue with both mirrors in sync');

        const consumer = await c.start({ role: 'consume', id: 'consumer', queue: QUEUE, client: true, prefetch: 64 });
        const producer = await c.start({ role: 'produce', id: 'producer', queue: QUEUE, client: true, count: 1_000_000, inFlight: 32, paceMs: 4, retryForMs: 120_000 });
        const progress = async (n: number) => {
          const target = producer.confirmed.length + n;
          await until(() => producer.confirmed.length >= target, `${n} more confirms`, 90_000);
        };

        const faultAt: { fault: Fault; node: string; at: number }[] = [];
        for (const [i, fault] of order.entries()) {
          await progress(150);
          const before = (await settled('the cluster healed'))!;
          const node = fault === 'kill-leader' ? before.leader : NODES[targets[i]!]!;
          faultAt.push({ fault, node, at: Date.now() });
          if (fault === 'pause') {
            nodes.get(node)!.signal('SIGSTOP');
            await sleep(defaultLeadership.leaseMs * 2 + 1_000);
            // A paused leader stays paused until another node took over, however long that takes on a loaded machine.
            if (node === before.leader) {
              await until(async () => { const now = await ha().catch(() => undefined); return now !== undefined && now.leader !== node && now.epoch > before.epoch; }, 'a takeover while the leader is paused', 60_000);
            }
            nodes.get(node)!.signal('SIGCONT');
            if (node === before.leader) {
              // Deposed while paused: it steps down, and the leader is another node at a later epoch.
              const after = await settled('a new leader after the pause');
              assert.notEqual(after.leader, node);
              assert.ok(after.epoch > before.epoch);
            }
          } else {
            await nodes.get(node)!.kill(fault === 'kill-leader' ? 'SIGKILL' : 'SIGTERM');
            if (fault === 'kill-leader') await progress(50);
            nodes.set(node, await c.start(opts(node)));
          }
        }
        await progress(150);
        await settled('the cluster healed at the end');
        await producer.kill('SIGTERM').catch(() => {});
        await until(() => producer.attempted !== undefined || producer.exited, 'the producer finished');
        const { confirmed, delivered, lost } = await drained(producer, consumer, 120_000);

        const seen = new Set<string>();
        const repeats = consumer.got.filter((g) => (seen.has(g.id) ? true : (seen.add(g.id), false)));
        const end = await ha().catch(() => undefined);
        // A fault's failover time: the longest stretch without a confirm after it, until the next fault.
        const failover = faultAt.map((f, i) => {
          const until = faultAt[i + 1]?.at ?? f.at + 30_000;
          const times = [f.at, ...producer.confirmedAt.filter((t) => t > f.at && t < until)];
          return Math.max(...times.slice(1).map((t, i) => t - times[i]!), 0);
        });
        console.log(`report mirrored: attempted=${producer.attempted} confirmed=${confirmed.size} refused=${producer.refused.length} ` +
          `delivered=${delivered.size} lost=${lost.length} duplicate deliveries=${repeats.length} (unflagged: ${repeats.filter((g) => !g.redelivered).length}) ` +
          `faults=${faultAt.map((f) => `${f.fault}@${f.node}`).join(',')} failover ms=${failover.join(',')} (max ${Math.max(...failover)}) ` +
          `queue at the end: leader=${end?.leader} epoch=${end?.epoch} ready=${end?.ready} unacked=${end?.unacked} consumers=${end?.consumers} seed=${params.seed}`);
        assert.deepEqual(lost, [], 'no confirmed message lost');
        const unflagged = repeats.filter((g) => !g.redelivered).map((g) => ({ id: g.id, deliveries: consumer.got.filter((x) => x.id === g.id) }));
        assert.deepEqual(unflagged, [], 'every repeated delivery flagged redelivered');
        assert.ok(confirmed.size > 0);
      } finally {
        await observer.stop();
        await c.close();
      }
    }), { ...params, endOnFailure: true });
  });

  it('a leader whose disk fills hands the queue to an in-sync mirror, and no confirmed message is lost', async () => {
    const c = await ClusterHarness.create(server.url);
    const observer = await Warren.start({ nats: server.url, cluster: c.cluster, role: 'client', nodeId: 'observer' });
    try {
      for (const id of ['n2', 'n3']) await c.start({ role: 'serve', id, queue: '' });
      await until(() => observer.stats().nodes.filter((n) => n.up && ['n2', 'n3'].includes(n.nodeId)).length === 2, 'two servers seen');
      // n1 declares the queue, so it leads it; its files stop growing at 256 KiB, a few thousand records.
      const n1 = await c.start({ role: 'serve', id: 'n1', queue: QUEUE, mirrors: 2, fileLimitKiB: 256 });
      const before = await settledOf(observer, 'the queue with both mirrors in sync');
      assert.equal(before.leader, 'n1');

      const consumer = await c.start({ role: 'consume', id: 'consumer', queue: QUEUE, client: true, prefetch: 64 });
      const producer = await c.start({ role: 'produce', id: 'producer', queue: QUEUE, client: true, count: 6_000, inFlight: 32, retryForMs: 60_000 });
      await until(() => producer.attempted !== undefined || producer.exited, 'the producer finished', 120_000);
      const after = await haOf(observer);
      const { confirmed, delivered, lost } = await drained(producer, consumer, 60_000);
      console.log(`report disk full: confirmed=${confirmed.size} refused=${producer.refused.length} delivered=${delivered.size} lost=${lost.length} ` +
        `leader ${before.leader}@${before.epoch} -> ${after?.leader}@${after?.epoch} n1 alive=${!n1.exited}`);
      assert.equal(n1.exited, false, 'the node whose disk is full runs on');
      assert.notEqual(after?.leader, 'n1', 'the lead moved off the node whose disk is full');
      assert.ok(after!.epoch > before.epoch);
      assert.equal(confirmed.size, 6_000, 'every publish confirmed, after retries across the hand-over');
      assert.deepEqual(lost, [], 'no confirmed message lost');
    } finally {
      await observer.stop();
      await c.close();
    }
  });

  it('a mirror paused past its frames\' timeout, restarted cleanly, or killed and restarted, catches up from the leader\'s log without a snapshot, and then holds every confirmed message', async () => {
    const c = await ClusterHarness.create(server.url);
    const observer = await Warren.start({ nats: server.url, cluster: c.cluster, role: 'client', nodeId: 'observer' });
    try {
      const nodes = new Map<string, Worker>();
      for (const id of NODES) nodes.set(id, await c.start({ role: 'serve', id, queue: '' }));
      await until(() => observer.stats().nodes.filter((n) => n.up && NODES.includes(n.nodeId)).length === NODES.length, 'three servers seen');
      await observer.declareQueue(QUEUE, { mirrors: 2 });
      const before = await settledOf(observer, 'the queue with both mirrors in sync');
      const [paused, other] = NODES.filter((n) => n !== before.leader) as [string, string];
      const mirrorOf = async (node: string) => (await haOf(observer))?.mirrors.find((m) => m.nodeId === node);

      const consumer = await c.start({ role: 'consume', id: 'consumer', queue: QUEUE, client: true, prefetch: 64 });
      const producer = await c.start({ role: 'produce', id: 'producer', queue: QUEUE, client: true, count: 1_000_000, inFlight: 32, paceMs: 4, retryForMs: 120_000 });
      const progress = async (n: number) => {
        const target = producer.confirmed.length + n;
        await until(() => producer.confirmed.length >= target, `${n} more confirms`, 90_000);
      };
      await progress(150);
      nodes.get(paused)!.signal('SIGSTOP');
      await until(async () => (await mirrorOf(paused))?.inSync === false, 'the paused mirror out of sync', 30_000);
      await progress(300);
      nodes.get(paused)!.signal('SIGCONT');
      await progress(150);
      await settledOf(observer, 'the paused mirror back in sync');
      assert.equal((await mirrorOf(paused))?.snapshots, 1, 'only the first snapshot: it caught up from the log');
      // Stopped cleanly, or killed, and started again, it knows its place in the stream (its log's last
      // mark), and catches up from there too.
      for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
        await nodes.get(paused)!.kill(signal);
        await progress(150);
        nodes.set(paused, await c.start({ role: 'serve', id: paused, queue: '' }));
        await progress(150);
        await settledOf(observer, `the mirror restarted after ${signal} back in sync`);
        assert.equal((await mirrorOf(paused))?.snapshots, 1, `no snapshot after ${signal} and a restart either`);
      }
      await producer.kill('SIGTERM').catch(() => {});
      await until(() => producer.attempted !== undefined || producer.exited, 'the producer finished');
      await until(async () => (await mirrorOf(paused))?.lag === 0, 'the paused mirror holds every append');

      // The mirror that caught up is left alone with all of it: the other one stops, then the leader dies.
      await nodes.get(other)!.kill('SIGTERM');
      // A publish finds it gone (an idle queue sends its mirrors nothing), and is confirmed without it.
      await observer.publish({ queue: QUEUE }, 'after the other mirror stopped');
      await until(async () => (await mirrorOf(other))?.inSync === false, 'the other mirror out of sync', 30_000);
      await nodes.get(before.leader)!.kill('SIGKILL');
      await until(async () => (await haOf(observer).catch(() => undefined))?.leader === paused, 'the mirror that caught up leads', 60_000);
      const { confirmed, delivered, lost } = await drained(producer, consumer, 60_000);
      console.log(`report catch-up: confirmed=${confirmed.size} delivered=${delivered.size} lost=${lost.length} leader ${before.leader} -> ${paused}`);
      assert.deepEqual(lost, [], 'no confirmed message lost');
      assert.ok(confirmed.size >= 600);
    } finally {
      await observer.stop();
      await c.close();
    }
  });
});
