// `warren node --http 0` on a NATS server of its own: its monitoring port while it runs, and a graceful
// exit on SIGTERM. A client node of the test's declares and publishes; the port shows it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Warren } from '../index.ts';
import { promSample, until } from '../node/testing.ts';
import { NatsServer } from '../transport/nats-server.ts';
import { startNode, type RunningNode } from './testing.ts';

describe('warren node --http', () => {
  it('serves /metrics, /healthz and /stats (404 elsewhere) while it runs, and exits 0 on SIGTERM', async () => {
    const cluster = 'cli-http';
    let server: NatsServer | undefined;
    let dir: string | undefined;
    let node: RunningNode | undefined;
    let client: Warren | undefined;
    try {
      server = await NatsServer.start();
      dir = await mkdtemp(path.join(tmpdir(), 'warren-cli-node-'));
      node = await startNode('--http', '0', '--nats', server.url, '--cluster', cluster, '--data', dir, '--id', 'cli-a');
      const base = node.ready.http!;
      assert.match(base, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.equal(node.ready.nodeId, 'cli-a');

      client = await Warren.start({ nats: server.url, cluster, role: 'client', nodeId: 'test-client' });
      // The queue goes to a server node the client has heard from: on a loaded machine, maybe not yet.
      await until(() => client!.stats().nodes.some((n) => n.nodeId === 'cli-a' && n.up), 'the client hears cli-a');
      await client.declareQueue('jobs');
      for (const n of [1, 2, 3]) await client.publish({ queue: 'jobs' }, `job ${n}`);
      await client.stop();
      client = undefined;

      const metrics = await fetch(`${base}/metrics`);
      assert.equal(metrics.status, 200);
      assert.match(metrics.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      const text = await metrics.text();
      const jobs = { node: 'cli-a', queue: 'jobs' };
      assert.equal(promSample(text, 'warren_queue_messages_published_total', 'COUNTER', jobs), 3);
      assert.equal(promSample(text, 'warren_queue_messages_ready', 'GAUGE', jobs), 3);
      assert.equal(promSample(text, 'warren_cluster_node_up', 'GAUGE', { node: 'cli-a', peer: 'cli-a' }), 1);

      const health = await fetch(`${base}/healthz`);
      assert.equal(health.status, 200);
      assert.deepEqual(await health.json(), { ok: true, nodeId: 'cli-a', queues: 1 });

      const stats = await fetch(`${base}/stats`);
      assert.equal(stats.status, 200);
      const body = await stats.json() as { queues: { name: string; published: number; leader: string }[] };
      assert.deepEqual(body.queues.map(({ name, published, leader }) => ({ name, published, leader })), [{ name: 'jobs', published: 3, leader: 'cli-a' }]);

      assert.equal((await fetch(`${base}/nowhere`)).status, 404);
      assert.equal((await fetch(`${base}/metrics`, { method: 'POST' })).status, 404);

      assert.equal(await node.stop('SIGTERM'), 0);
      await assert.rejects(fetch(`${base}/healthz`), 'the port is closed once the node has stopped');
    } finally {
      await client?.stop();
      await node?.kill();
      await server?.stop();
      if (dir) await rm(dir, { recursive: true, force: true });
    }
  });
});
