// Warren embedded: one node in the benchmark's own process, local transport, storage in a fresh
// directory with the default fsync 'always' (a confirm means fdatasync'd). Only the public API.
import { readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Warren, type Consumer } from '../../index.ts';
import { ROOT } from '../entry-point.ts';
import { queueNames } from '../topology.ts';
import type { Delivery, ServerInfo, Session, System, Topology } from '../types.ts';

/** Derived from the run's name so that `remove` finds what an aborted run left behind. */
function dataDir(name: string): string {
  return path.join(os.tmpdir(), name);
}

export const warrenEmbedded: System = {
  // Warren starts with the run's process: it is warmed as the Warren node processes are.
  warmup: 'engine',

  async probe(): Promise<ServerInfo> {
    const pkg = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    return {
      server: `Warren ${pkg.version} (embedded, in the benchmark process)`,
      durability: "fsync 'always': a confirm means the message was fdatasync'd (group commit)",
      fanout: 'a fanout exchange bound to 4 durable queues; one publish, confirmed when all 4 queues have it on disk',
    };
  },

  async open(name: string, topology: Topology): Promise<Session> {
    await rm(dataDir(name), { recursive: true, force: true });
    const node = await Warren.start({ dataDir: dataDir(name) });
    const queues = queueNames(name, topology);
    const consumers: Consumer[] = [];
    try {
      for (const q of queues) await node.declareQueue(q);
      if (topology.kind === 'fanout') {
        await node.declareExchange(name, { type: 'fanout' });
        for (const q of queues) await node.bindQueue(q, name, '');
      }
    } catch (e) {
      await node.stop().catch(() => {});
      throw e;
    }
    const target = topology.kind === 'fanout' ? { exchange: name, routingKey: '' } : { queue: name };

    return {
      publish: async (body) => {
        await node.publish(target, body);
      },

      async consume(index: number, prefetch: number, onMessage: (d: Delivery) => void): Promise<void> {
        // The handler returns at once: acks are sent by the workload (W3 delays them), not by returning.
        consumers.push(await node.consume(queues[index]!, (msg) => {
          onMessage({ body: msg.body, ack: () => msg.ack() });
        }, { prefetch, ack: 'manual' }));
      },

      serverPid: () => process.pid,

      async close(): Promise<void> {
        for (const c of consumers) await c.cancel().catch(() => {});
        await node.stop();
        await rm(dataDir(name), { recursive: true, force: true });
      },
    };
  },

  async remove(name: string): Promise<void> {
    await rm(dataDir(name), { recursive: true, force: true });
  },
};
