// The monitoring port on its own, with a node in the test's process: what /healthz says once the node
// is stopping (the CLI says so on SIGINT or SIGTERM, before the node's stop begins).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { memoryNode } from '../node/testing.ts';
import { HttpMonitor } from './http-monitor.ts';

describe('HttpMonitor', () => {
  it('answers /healthz with 200 while the node runs and 503 once it is draining, and closes', async () => {
    const node = await memoryNode();
    const monitor = await HttpMonitor.start(node, 0, '127.0.0.1').catch(async (e: unknown) => { await node.stop(); throw e; });
    try {
      await node.declareQueue('q');
      const healthz = async () => {
        const res = await fetch(`${monitor.url}/healthz`);
        return { status: res.status, body: await res.json() as unknown };
      };
      assert.deepEqual(await healthz(), { status: 200, body: { ok: true, nodeId: node.nodeId, queues: 1 } });
      // Request lines that are no URL get a 404, and the node goes on.
      for (const odd of ['//', '///', '//[', '/metrics/..', '/toString', '/__proto__']) assert.equal((await fetch(`${monitor.url}${odd}`)).status, 404, odd);
      assert.equal((await healthz()).status, 200);
      // A request target in absolute form (RFC 9112 §3.2.2), as a proxy sends it.
      const absolute = await new Promise<number>((resolve, reject) => {
        const { hostname, port } = new URL(monitor.url);
        request({ host: hostname, port, path: `http://${hostname}:${port}/healthz` }, (res) => { res.resume(); resolve(res.statusCode ?? 0); }).on('error', reject).end();
      });
      assert.equal(absolute, 200);
      monitor.draining();
      assert.deepEqual(await healthz(), { status: 503, body: { ok: false, nodeId: node.nodeId, stopping: true } });
      await monitor.close();
      await assert.rejects(fetch(`${monitor.url}/healthz`), 'nothing listens once it is closed');
    } finally {
      await monitor.close();
      await node.stop();
    }
  });
});
