// Foreign clients on Warren's subjects: garbage bytes, wrong versions, oversized and mutated frames,
// valid frames for unknown queues or with bad control requests. The node answers with errors where it
// can, counts what it refused, and still serves a normal publish and consume afterwards.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { Warren } from '../index.ts';
import { until } from '../node/testing.ts';
import { clusterSubjects } from '../transport/cluster-subjects.ts';
import { decode, encode, type Frame } from '../transport/frame.ts';
import { NatsServer } from '../transport/nats-server.ts';
import { NatsTransport } from '../transport/nats.ts';
import { propertyParams } from './params.ts';

describe('hostile input on a node\'s subjects', () => {
  let server: NatsServer;
  let dir: string;
  before(async () => {
    server = await NatsServer.start();
    dir = await mkdtemp(path.join(tmpdir(), 'warren-hostile-'));
  });
  after(async () => {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('random and mutated frames never crash the node; it answers, counts, and keeps serving', async () => {
    const node = await Warren.start({ nats: server.url, cluster: 'hostile', nodeId: 'target', dataDir: dir });
    await node.declareQueue('q');
    const foreign = await NatsTransport.connect({ servers: server.url });
    const s = clusterSubjects('hostile');
    const subjects = [s.publish('q'), s.settle('q'), s.control('q'), s.publish('nope'), s.deliver('target-x'), s.replicate('target'), s.replicatePair('target', 'other')];
    const valid: fc.Arbitrary<Frame> = fc.oneof(
      fc.record({ type: fc.constant('publish' as const), queue: fc.constantFrom('q', 'other', ''), entries: fc.array(fc.record({ id: fc.string({ maxLength: 300 }), headers: fc.constant({}), priority: fc.nat({ max: 255 }), delayMs: fc.nat({ max: 10 }), ttlMs: fc.nat({ max: 10 }), body: fc.uint8Array({ maxLength: 32 }) }), { maxLength: 3 }) }),
      fc.record({ type: fc.constant('settle' as const), consumer: fc.string({ maxLength: 20 }), epoch: fc.nat({ max: 3 }), entries: fc.array(fc.record({ seq: fc.nat(), outcome: fc.constantFrom('ack' as const, 'requeue' as const, 'dead-letter' as const), delayMs: fc.nat({ max: 10 }) }), { maxLength: 3 }) }),
      fc.record({ type: fc.constant('control' as const), json: fc.oneof(fc.json(), fc.constantFrom('{"op":"subscribe","consumer":"x","node":"n","prefetch":-1}', '{"op":"reconcile","consumer":"ghost","holds":[1,2]}', '{"op":"cancel","consumer":"ghost"}', '{"op":"purge","extra":1}', '{"op":"delete","ifUnused":"yes","ifEmpty":false}', '{"op":"delete"}', '{"op":"position","queue":7}')) }),
    );
    const replicate: fc.Arbitrary<Frame> = fc.record({
      type: fc.constant('replicate' as const), queue: fc.constantFrom('q', 'other', '', '..'), epoch: fc.nat({ max: 3 }), session: fc.string({ maxLength: 8 }),
      from: fc.nat({ max: 3 }), reset: fc.boolean(), lsn: fc.nat({ max: 3 }), records: fc.uint8Array({ maxLength: 64 }),
    });
    const replicatePair: fc.Arbitrary<Frame> = fc.record({
      type: fc.constant('replicate-pair' as const), queue: fc.constantFrom('q', 'other', '', '..'), epoch: fc.nat({ max: 3 }),
      to: fc.array(fc.record({ node: fc.constantFrom('target', 'other', ''), session: fc.string({ maxLength: 8 }), from: fc.nat({ max: 3 }), reply: fc.constantFrom('_INBOX.hostile.1', 'hostile.q.q.pub', '', 'two words', 'a.*', 'a..b', 'x\r\nPUB y 1') }), { maxLength: 3 }),
      lsn: fc.nat({ max: 3 }), records: fc.uint8Array({ maxLength: 64 }),
    });
    const mutate = fc.tuple(fc.oneof(valid, replicate, replicatePair), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { maxLength: 3 })).map(([f, flips]) => {
      const b = Buffer.from(encode(f));
      for (const [at, xor] of flips) b[at % b.length]! ^= xor;
      return b;
    });
    const bytes = fc.oneof(fc.uint8Array({ maxLength: 100 }), valid.map(encode), replicate.map(encode), replicatePair.map(encode), mutate);
    const replies: string[] = [];
    await fc.assert(fc.asyncProperty(fc.constantFrom(...subjects), bytes, fc.boolean(), async (subject, data, asRequest) => {
      if (!asRequest) return foreign.publish(subject, data);
      await foreign.request(subject, data, { timeoutMs: 500 }).then(() => replies.push('reply'), (e: Error) => replies.push(e.name));
    }), { ...propertyParams('hostile frames', 150), endOnFailure: true });

    // A frame of another version is refused with its reason. (Oversized frames never get here: the
    // server's max payload refuses them; decode's own limit is in transport/frame.test.ts.)
    await foreign.request(s.publish('q'), Buffer.from([0x57, 0x52, 9, 0]), { timeoutMs: 2_000 }).catch(() => {});
    await until(() => (node.stats().node.rejectedFrames.version ?? 0) >= 1, 'a wrong version counted');
    // A well-formed publish whose entries break what publish() checks: each refused alone, and counted.
    const entry = { id: 'ok', headers: {}, priority: 0, delayMs: 0, ttlMs: 0, body: Uint8Array.of(1) };
    const before = node.stats().node.rejectedFrames['invalid-entry'] ?? 0;
    const acks = decode(await foreign.request(s.publish('q'), encode({ type: 'publish', queue: 'q', entries: [{ ...entry, id: 'x'.repeat(257) }, { ...entry, id: '' }, { ...entry, id: 'fine' }] }), { timeoutMs: 2_000 }));
    assert.ok(acks.type === 'publish-ack', JSON.stringify(acks));
    assert.deepEqual(acks.entries.map((a) => (a.ok ? 'ok' : a.code)), ['INVALID_ARGUMENT', 'INVALID_ARGUMENT', 'ok']);
    assert.equal(node.stats().node.rejectedFrames['invalid-entry'], before + 2);

    // A message that fills a whole NATS message fits the frame that brings it, not the one that would
    // deliver it: refused, or every delivery of it would fail.
    const whole = encode({ type: 'publish', queue: 'q', entries: [{ ...entry, body: new Uint8Array(foreign.maxPayload - 64) }] });
    const tooBig = decode(await foreign.request(s.publish('q'), whole, { timeoutMs: 5_000 }));
    assert.ok(tooBig.type === 'publish-ack' && !tooBig.entries[0]!.ok && tooBig.entries[0]!.code === 'INVALID_ARGUMENT', JSON.stringify(tooBig).slice(0, 300));
    // So many bad entries that their refusals would not fit in one answer with their messages: each is
    // still answered, by its code (publishing the longer answer would throw).
    const empty = { ...entry, id: '', body: new Uint8Array(0) };
    const many = encode({ type: 'publish', queue: 'q', entries: Array.from({ length: Math.floor((foreign.maxPayload - 64) / 28) }, () => empty) });
    const whole2 = decode(await foreign.request(s.publish('q'), many, { timeoutMs: 5_000 }));
    assert.ok(whole2.type === 'publish-ack' && whole2.entries.every((e) => !e.ok && e.code === 'INVALID_ARGUMENT'), JSON.stringify(whole2).slice(0, 300));
    assert.equal(node.stats().node.rejectedFrames['oversized-answer'], 1);
    const rejected = node.stats().node.rejectedFrames;
    assert.ok(Object.values(rejected).reduce((a, b) => a + b, 0) > 0, JSON.stringify(rejected));
    assert.ok(replies.includes('reply'), 'requests got answers (errors included)');

    // Still serving.
    const got: string[] = [];
    await node.consume('q', (m) => { if (m.text() === 'still here') got.push(m.text()); });
    await node.publish({ queue: 'q' }, 'still here');
    await until(() => got.length === 1, 'a normal publish and consume');
    await foreign.close();
    await node.stop();
  });

  it('a consumer subscribed in the name of a node never heard from holds its messages only until that node would have timed out', async () => {
    const node = await Warren.start({ nats: server.url, cluster: 'ghosts', nodeId: 'host', dataDir: path.join(dir, 'ghosts') });
    await node.declareQueue('g');
    for (const text of ['a', 'b', 'c']) await node.publish({ queue: 'g' }, text);
    // As a node that crashed right after subscribing, before its first heartbeat reached the queue's node.
    const foreign = await NatsTransport.connect({ servers: server.url });
    const s = clusterSubjects('ghosts');
    const ghosted: string[] = [];
    foreign.subscribe(s.deliver('ghost-1'), (m) => { const f = decode(m.data); if (f.type === 'deliver') ghosted.push(...f.entries.map((e) => e.id)); });
    await foreign.flush();
    const reply = decode(await foreign.request(s.control('g'), encode({ type: 'control', json: JSON.stringify({ op: 'subscribe', consumer: 'ghost-1', node: 'ghost', prefetch: 10 }) }), { timeoutMs: 5_000 }));
    assert.equal(reply.type, 'control');
    await until(() => ghosted.length === 3, 'the ghost holds all three');
    const got: string[] = [];
    await node.consume('g', (m) => { got.push(m.text()); });
    await until(() => got.length === 3, 'the messages given back once the ghost would have timed out');
    assert.deepEqual(got.sort(), ['a', 'b', 'c']);
    await foreign.close();
    await node.stop();
  });
});
