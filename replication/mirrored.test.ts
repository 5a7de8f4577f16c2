// Mirrored queues with nodes in one process on a nats-server of the test's own: replication, stats,
// a leader that stops and an in-sync mirror that takes over with every confirmed message (the other
// mirror follows it on without a snapshot), and a mirror that comes back and catches up. The multi-process fault test (SIGKILL, SIGSTOP) is in
// property-tests/mirrored-faults.test.ts.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Overflow, Warren, type Message } from '../index.ts';
import { FRAME_ROOM } from '../node/limits.ts';
import { breakQueueFolder, until } from '../node/testing.ts';
import { clusterSubjects } from '../transport/cluster-subjects.ts';
import { decode, encode } from '../transport/frame.ts';
import { NatsTransport } from '../transport/nats.ts';
import { NatsServer } from '../transport/nats-server.ts';

/** Past the 32 MiB of bodies a queue keeps in memory (the last ones are read back from its log): 72 of 500 KiB, marked by id. */
async function publishBacklog(client: Warren, queue: string): Promise<string[]> {
  const ids = Array.from({ length: 72 }, (_, i) => `m${i}`);
  await Promise.all(ids.map((id) => client.publish({ queue }, Buffer.concat([Buffer.from(`mark-${id}-`), Buffer.alloc(500 * 1024, 1)]), { id })));
  return ids;
}

describe('mirrored queues', () => {
  let server: NatsServer;
  let dir: string;
  before(async () => { server = await NatsServer.start(); dir = await mkdtemp(path.join(tmpdir(), 'warren-ha-')); });
  after(async () => { await server.stop(); await rm(dir, { recursive: true, force: true }); });

  const cluster = `ha${process.pid}`;
  const start = (id: string, role: 'server' | 'client' = 'server') => Warren.start({ nats: server.url, cluster, nodeId: id, dataDir: path.join(dir, id), role });

  it('replicates to in-sync mirrors, fails over to one when the leader stops (the other follows it without a snapshot), and a returning node catches up', async () => {
    const [a, b, c] = [await start('a'), await start('b'), await start('c')];
    const client = await start('client', 'client');
    const nodes = new Map([['a', a], ['b', b], ['c', c]]);
    try {
      await a.declareQueue('orders', { mirrors: 2 });
      const leaderStats = () => [...nodes.values()].flatMap((n) => n.stats().queues.filter((q) => q.name === 'orders'));
      await until(() => leaderStats()[0]?.mirrors.filter((m) => m.inSync).length === 2, 'both mirrors in sync');
      const first = leaderStats()[0]!;
      assert.equal(first.leader, 'a');
      assert.equal(first.epoch, 1);
      assert.deepEqual(first.mirrors.map((m) => m.nodeId).sort(), ['b', 'c']);

      // Both mirrors stream the same appends: the leader sends each once, as a frame for the pair.
      const tap = await NatsTransport.connect({ servers: server.url });
      let pairFrames = 0;
      tap.subscribe(clusterSubjects(cluster).replicatePair('b', 'c'), () => { pairFrames++; });
      await tap.flush();
      for (let i = 0; i < 100; i++) await client.publish({ queue: 'orders' }, `m${i}`, { id: `id-${i}` });
      assert.ok(pairFrames > 0, 'records went to both mirrors in one frame');
      await tap.close();
      const got: Message[] = [];
      const consumer = await client.consume('orders', (m) => { got.push(m); if (Number(m.text().slice(1)) % 2 === 0) return m.ack(); return undefined; }, { ack: 'manual', prefetch: 100 });
      await until(() => got.length === 100, 'first delivery of all 100');
      // The 50 even ones are acked; the odd ones stay unacked across the failover.
      await until(() => leaderStats()[0]?.acked === 50 && leaderStats()[0]!.mirrors.every((m) => m.lag === 0), 'acks replicated');

      await a.stop();
      nodes.delete('a');
      await until(() => leaderStats().length === 1, 'a mirror took over', 30_000);
      const second = leaderStats()[0]!;
      assert.ok(['b', 'c'].includes(second.leader));
      assert.equal(second.epoch, 2);
      // The other mirror held what the new leader held of a's stream: it follows on from there, and
      // what is published now reaches it, without a snapshot.
      const other = second.leader === 'b' ? 'c' : 'b';
      const otherMirror = () => leaderStats()[0]?.mirrors.find((m) => m.nodeId === other);
      await until(() => otherMirror()?.inSync === true, 'the other mirror in sync again', 30_000);
      for (let i = 100; i < 120; i++) await client.publish({ queue: 'orders' }, `m${i}`, { id: `id-${i}` });
      await until(() => otherMirror()?.lag === 0, 'the new messages on the other mirror');
      assert.equal(otherMirror()!.snapshots, 0, 'no snapshot for a mirror that held as much as the new leader');
      // The unacked half comes back, redelivered, with the 20 new ones; the acked half does not.
      await until(() => got.length >= 170, 'the 50 unacked ones again and the new ones', 30_000);
      const again = got.slice(100).filter((m) => m.redelivered);
      assert.deepEqual(again.map((m) => m.text()).sort(), Array.from({ length: 50 }, (_, i) => `m${2 * i + 1}`).sort());
      assert.deepEqual(got.slice(100).filter((m) => !m.redelivered).map((m) => m.text()).sort(), Array.from({ length: 20 }, (_, i) => `m${100 + i}`).sort());
      await Promise.all(got.slice(100).filter((m) => Number(m.text().slice(1)) % 2 === 1).map((m) => m.ack()));
      // A publish with an id seen before the failover is still a duplicate: the dedup window was replicated.
      assert.equal((await client.publish({ queue: 'orders' }, 'again', { id: 'id-7' })).duplicate, true);

      const back = await start('a');
      nodes.set('a', back);
      await until(() => leaderStats()[0]?.mirrors.filter((m) => m.inSync).length === 2, 'the returning node caught up', 30_000);
      // Restarted, it knows no place in the stream it held: it starts over from a snapshot.
      assert.ok(leaderStats()[0]!.mirrors.find((m) => m.nodeId === 'a')!.snapshots >= 1);
      await consumer.cancel();
      await until(() => leaderStats()[0]?.mirrors.every((m) => m.lag === 0) ?? false, 'everything on both mirrors');

      // Once more: whichever mirror takes over (the one that resumed, or the one that got a snapshot)
      // holds every message and every ack, and the ids published since the first failover.
      const third = leaderStats()[0]!.leader;
      await nodes.get(third)!.stop();
      nodes.delete(third);
      await until(() => leaderStats()[0]?.epoch === 3, 'a mirror took over again', 30_000);
      assert.equal(leaderStats()[0]!.ready + leaderStats()[0]!.unacked, 0, 'every message was acked');
      assert.equal((await client.publish({ queue: 'orders' }, 'again', { id: 'id-110' })).duplicate, true);
    } finally {
      await client.stop();
      for (const n of nodes.values()) await n.stop();
    }
  });

  it('replicates in frames under the NATS max payload (a burst from the leader, a snapshot for a mirror that comes back, the largest body) and refuses a body no NATS message carries', async () => {
    const [a, b, c] = [await start('s1'), await start('s2'), await start('s3')];
    const nodes = [a, b, c];
    const body = new Uint8Array(16 * 1024).fill(7);
    try {
      await a.declareQueue('big', { mirrors: 2 });
      const stats = () => nodes.flatMap((n) => n.stats().queues.filter((q) => q.name === 'big'))[0];
      await until(() => stats()?.mirrors.filter((m) => m.inSync).length === 2, 'both mirrors in sync');
      // Every replicate frame, to one mirror or to the pair.
      const tap = await NatsTransport.connect({ servers: server.url });
      const frames: number[] = [];
      for (const subject of [`${cluster}.r.>`, `${cluster}.r2.>`]) tap.subscribe(subject, (m) => { frames.push(m.data.length); });
      await tap.flush();
      // One batch on the leader's node: one append of 4 MiB, over NATS's 1 MiB max payload.
      await Promise.all(Array.from({ length: 256 }, (_, i) => a.publish({ queue: 'big' }, body, { id: `burst-${i}` })));
      await until(() => stats()?.mirrors.every((m) => m.inSync && m.lag === 0) ?? false, 'the burst on both mirrors', 30_000);
      // The tap reads on a connection of its own, perhaps a frame or two behind the mirrors' answers.
      await until(() => frames.length >= 8, 'the burst went in parts (8 frames or more)');
      // A mirror that was away catches up from a snapshot of 4 MiB of live messages.
      await c.stop();
      nodes.pop();
      for (let i = 0; i < 16; i++) await a.publish({ queue: 'big' }, body, { id: `while-away-${i}` });
      await until(() => stats()?.mirrors.filter((m) => m.inSync).length === 1, 'the stopped mirror out of sync', 30_000);
      nodes.push(await start('s3'));
      await until(() => stats()?.mirrors.filter((m) => m.inSync).length === 2, 'the returning mirror caught up', 30_000);
      assert.equal(stats()?.ready, 272);
      // A body that one NATS message cannot carry is refused at once, on any node; the largest that
      // fits reaches both mirrors.
      const limit = 1024 * 1024 - FRAME_ROOM;
      for (const node of [a, b]) await assert.rejects(node.publish({ queue: 'big' }, new Uint8Array(limit + 1)), { code: 'INVALID_ARGUMENT' });
      // Headers count as the log writes them (JSON: a control character takes six bytes).
      await assert.rejects(b.publish({ queue: 'big' }, new Uint8Array(limit - 2_000), { headers: { x: '\u0001'.repeat(1_000) } }), { code: 'INVALID_ARGUMENT' });
      await b.publish({ queue: 'big' }, new Uint8Array(limit).fill(1));
      await until(() => stats()?.mirrors.every((m) => m.inSync && m.lag === 0) ?? false, 'the largest body on both mirrors', 30_000);
      assert.equal(stats()?.ready, 273);
      assert.ok(Math.max(...frames) < 1024 * 1024, `frames under the max payload (largest: ${Math.max(...frames)} bytes)`);
      await tap.close();
    } finally {
      for (const n of nodes) await n.stop();
    }
  });

  it('a mirror whose node stops leaves inSync at once, with nothing published meanwhile; back, it catches up from the leader\'s log without a snapshot', async () => {
    const nodes = new Map([['g1', await start('g1')], ['g2', await start('g2')], ['g3', await start('g3')]]);
    try {
      await nodes.get('g1')!.declareQueue('idle', { mirrors: 2 });
      const stats = () => [...nodes.values()].flatMap((n) => n.stats().queues.filter((q) => q.name === 'idle'))[0];
      for (let i = 0; i < 10; i++) await nodes.get('g2')!.publish({ queue: 'idle' }, `m${i}`);
      await until(() => stats()?.mirrors.every((m) => m.inSync && m.lag === 0) ?? false, 'both mirrors hold all 10');
      const away = stats()!.mirrors[0]!.nodeId;
      const snapshots = stats()!.mirrors[0]!.snapshots;
      await nodes.get(away)!.stop();
      nodes.delete(away);
      // No append will find it gone: the leader learns it from the node's goodbye.
      await until(() => stats()?.mirrors.find((m) => m.nodeId === away)?.inSync === false, 'the stopped mirror out of sync');
      nodes.set(away, await start(away));
      await until(() => stats()?.mirrors.every((m) => m.inSync && m.lag === 0) ?? false, 'the returning mirror in sync again', 30_000);
      assert.equal(stats()!.mirrors.find((m) => m.nodeId === away)!.snapshots, snapshots, 'it stopped cleanly at a place in this leader\'s stream: no snapshot');
      assert.equal(stats()!.ready, 10);
    } finally {
      for (const n of nodes.values()) await n.stop();
    }
  });

  it("refuses to start on a NATS server whose max payload cannot carry Warren's frames", async () => {
    const small = await NatsServer.start({ maxPayload: 256 * 1024 });
    try {
      await assert.rejects(Warren.start({ nats: small.url, cluster, nodeId: 'small', dataDir: path.join(dir, 'small') }), { code: 'INVALID_ARGUMENT', message: /max_payload of 262144 bytes/ });
    } finally {
      await small.stop();
    }
  });

  it("a mirrored queue's dead letters go to a dead-letter queue mirrored as it is", async () => {
    const nodes = [await start('d1'), await start('d2'), await start('d3')];
    try {
      await nodes[0]!.declareQueue('jobs', { mirrors: 2 });
      const dead: string[] = [];
      await nodes[1]!.consume('jobs', (m) => m.reject(), { ack: 'manual' });
      await nodes[2]!.publish({ queue: 'jobs' }, 'poison');
      await until(() => nodes.some((n) => n.stats().queues.some((q) => q.name === 'jobs.dlq')), 'the dead-letter queue opened');
      await nodes[2]!.consume('jobs.dlq', (m) => { dead.push(m.text()); });
      await until(() => dead.length === 1, 'the dead letter delivered', 30_000);
      const dlq = nodes.flatMap((n) => n.stats().queues.filter((q) => q.name === 'jobs.dlq'))[0]!;
      assert.equal(dlq.mirrors.length, 2);
      assert.deepEqual(dead, ['poison']);
    } finally {
      for (const n of nodes) await n.stop();
    }
  });

  it('a stray replicate frame with a high epoch does not fence the leader out of its mirror', async () => {
    const nodes = [await start('f1'), await start('f2')];
    const foreign = await NatsTransport.connect({ servers: server.url });
    try {
      await nodes[0]!.declareQueue('fenced', { mirrors: 1 });
      const stats = () => nodes.flatMap((n) => n.stats().queues.filter((q) => q.name === 'fenced'))[0];
      await until(() => stats()?.mirrors[0]?.inSync === true, 'the mirror in sync');
      const mirror = stats()!.mirrors[0]!.nodeId;
      // Well formed, for a queue the node mirrors, but of no session: refused, and its epoch must not stick.
      const stray = encode({ type: 'replicate', queue: 'fenced', epoch: 2 ** 31, session: 'stray', from: 7, reset: false, lsn: 0, records: new Uint8Array(0) });
      const answer = decode(await foreign.request(clusterSubjects(cluster).replicate(mirror), stray, { timeoutMs: 2_000 }));
      assert.match(answer.type === 'error' ? answer.message : answer.type, /expected frame \d+ of session/);
      for (let i = 0; i < 20; i++) await nodes[1]!.publish({ queue: 'fenced' }, `m${i}`);
      await until(() => stats()!.mirrors[0]!.inSync && stats()!.mirrors[0]!.lag === 0, 'the mirror holds all 20');
    } finally {
      await foreign.close();
      for (const n of nodes) await n.stop();
    }
  });

  it("a queue's node answers with typed errors: Overflow and QueueNotFound keep their class over NATS", async () => {
    const nodes = [await start('t1'), await start('t2')];
    const client = await start('t-client', 'client');
    try {
      await nodes[0]!.declareQueue('full', { mirrors: 1, maxLength: 1 });
      await nodes[0]!.declareQueue('plain-full', { maxLength: 1 });
      for (const queue of ['full', 'plain-full']) {
        await client.publish({ queue }, 'first');
        const refused = await client.publish({ queue }, 'second').then(() => undefined, (e: unknown) => e);
        assert.ok(refused instanceof Overflow, `${queue}: ${String(refused)}`);
        assert.equal(refused.code, 'OVERFLOW');
        assert.match(refused.message, new RegExp(`queue '${queue}' is full`));
      }
      // A mirrored queue is reached over NATS from its leader's node too.
      await assert.rejects(nodes[0]!.publish({ queue: 'full' }, 'third'), Overflow);
    } finally {
      for (const n of [client, ...nodes]) await n.stop();
    }
  });

  it("a leader whose queue actor keeps crashing (its disk damaged a record, then its folder cannot be opened) hands the lead to an in-sync mirror: nothing is lost, and it mirrors again, its broken copy wiped for the new leader's", async () => {
    const [a, b, c] = [await start('d1'), await start('d2'), await start('d3')];
    const client = await start('d-client', 'client');
    const errors: Error[] = [];
    a.onError((e) => errors.push(e));
    try {
      await a.declareQueue('disk', { mirrors: 2 });
      const leaderStats = () => [a, b, c].flatMap((n) => n.stats().queues.filter((q) => q.name === 'disk'));
      await until(() => leaderStats()[0]?.mirrors.filter((m) => m.inSync).length === 2, 'both mirrors in sync');
      const ids = await publishBacklog(client, 'disk');
      await breakQueueFolder(path.join(dir, 'd1', 'queues', 'disk'), 'mark-m70-');

      const got = new Set<string>();
      const consumer = await client.consume('disk', (m) => { got.add(m.id); }, { prefetch: 4 });
      await until(() => leaderStats()[0]?.leader !== 'd1' && leaderStats().length === 1, 'a mirror leads', 30_000);
      assert.ok(errors.some((e) => /kept failing/.test(e.message)));
      // The mirrors hold the record the leader's disk damaged.
      await until(() => ids.every((id) => got.has(id)), 'every message, the damaged one too', 60_000);

      // A file in the place of its folder: the new leader's reset removes it, and the copy starts afresh.
      await until(() => leaderStats()[0]?.mirrors.filter((m) => m.inSync).length === 2, 'the old leader mirrors the queue again', 30_000);
      await consumer.cancel();
    } finally {
      await client.stop();
      for (const n of [a, b, c]) await n.stop();
    }
  });

  it('a leader whose queue actor keeps crashing, with no in-sync mirror to hand over to, claims the lead again once its disk is mended: every message it still holds is delivered', async () => {
    const [a, b] = [await start('e1'), await start('e2')];
    const client = await start('e-client', 'client');
    const errors: Error[] = [];
    a.onError((e) => errors.push(e));
    let mirror: Warren | undefined = b;
    try {
      await a.declareQueue('alone', { mirrors: 1, minInSync: 1 });
      const leaderStats = () => a.stats().queues.find((q) => q.name === 'alone');
      await until(() => leaderStats()?.mirrors[0]?.inSync === true, 'the mirror in sync');
      await b.stop();
      mirror = undefined;
      // Confirmed once the lost mirror left inSync: the leader alone holds them.
      const ids = await publishBacklog(client, 'alone');
      assert.equal(leaderStats()?.mirrors[0]?.inSync, false);
      const mend = await breakQueueFolder(path.join(dir, 'e1', 'queues', 'alone'), 'mark-m70-');

      const got = new Set<string>();
      const consumer = await client.consume('alone', (m) => { got.add(m.id); }, { prefetch: 4 });
      await until(() => errors.some((e) => /no in-sync mirror took the lead/.test(e.message)), 'the leader gives the queue up', 30_000);
      await mend();
      // Its only copy of m70 was damaged: every other message comes.
      const want = ids.filter((id) => id !== 'm70');
      await until(() => want.every((id) => got.has(id)), 'every message it holds, from the lead claimed again', 60_000);
      assert.equal(leaderStats()?.leader, 'e1');
      assert.ok(leaderStats()!.epoch > 1, 'a new epoch');
      await consumer.cancel();
    } finally {
      await client.stop();
      await a.stop();
      await mirror?.stop();
    }
  });

  it('refuses mirrors without NATS, more mirrors than nodes, and minInSync above the replicas', async () => {
    const embedded = await Warren.start({ dataDir: ':memory:' });
    await assert.rejects(embedded.declareQueue('q', { mirrors: 1 }), { code: 'INVALID_ARGUMENT' });
    await embedded.stop();
    const lone = await start('lone');
    try {
      await assert.rejects(lone.declareQueue('q2', { mirrors: 1, minInSync: 3 }), { code: 'INVALID_ARGUMENT' });
      await assert.rejects(lone.declareQueue('q3', { mirrors: 5 }), { code: 'NOT_CONFIRMED', message: /need 6 server nodes/ });
    } finally {
      await lone.stop();
    }
  });
});
