// Failover benchmark of mirrored queues: three `warren node` processes hold a queue with two mirrors
// while a client node publishes a steady stream with confirms; the leader's process is then killed
// (SIGKILL) or paused past its lease (SIGSTOP), with the queue empty or holding a backlog. The figure
// is how long publishing stalled: the longest gap between confirms after the fault. Run alone with
// `npx tsx bench/failover.ts [trials] [backlog]`.
import type { ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { connect } from 'nats';
import { Warren } from '../index.ts';
import { startNode } from './systems/warren-nats.ts';

const NATS = 'nats://127.0.0.1:4222';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export type FaultKind = 'SIGKILL' | 'SIGSTOP';

/** Milliseconds without a confirm after one fault of the leader, with `backlog` messages of 1 KiB waiting in the queue. */
export async function measureFailover(fault: FaultKind, trial: number, backlog = 0): Promise<number> {
  const cluster = `wbench_failover_${Date.now().toString(36)}_${trial}`;
  const ids = ['n1', 'n2', 'n3'];
  const dir = (id: string) => path.join(os.tmpdir(), `${cluster}-${id}`);
  const nodes = new Map<string, ChildProcess>();
  for (const id of ids) nodes.set(id, await startNode(cluster, id, dir(id)));
  const client = await Warren.start({ nats: NATS, cluster, role: 'client', nodeId: 'client' });
  const confirmedAt: number[] = [];
  let running = true;
  try {
    await client.declareQueue('q', { mirrors: 2 });
    const stats = async () => (await client.clusterStats()).queues.find((q) => q.name === 'q');
    for (let i = 0; (await stats())?.mirrors.filter((m) => m.inSync).length !== 2; i++) {
      if (i > 100) throw new Error('the mirrors did not get in sync');
      await sleep(100);
    }
    const body = 'x'.repeat(1024);
    for (let sent = 0; sent < backlog; sent += 256) {
      await Promise.all(Array.from({ length: Math.min(256, backlog - sent) }, () => client.publish({ queue: 'q' }, body)));
    }
    for (let i = 0; (await stats())?.mirrors.some((m) => !m.inSync || m.lag > 0); i++) {
      if (i > 600) throw new Error('the mirrors did not take the backlog');
      await sleep(100);
    }
    // 32 publishers, each with one publish in flight, retrying a refused one under the same id.
    let next = 0;
    const publisher = async () => {
      while (running) {
        const id = `m${next++}`;
        for (;;) {
          try {
            await client.publish({ queue: 'q' }, body, { id });
            confirmedAt.push(Date.now());
            break;
          } catch {
            if (!running) return;
            await sleep(50);
          }
        }
        await sleep(2);
      }
    };
    const publishers = Array.from({ length: 32 }, publisher);
    await sleep(2_000);
    const leader = nodes.get((await stats())!.leader)!;
    const at = Date.now();
    leader.kill(fault);
    // Until confirms have flowed again for 3 s (60 s at most): the stall is behind.
    while (Date.now() - at < 60_000 && flowingFor(confirmedAt, at) < 3_000) await sleep(250);
    if (fault === 'SIGSTOP') leader.kill('SIGCONT');
    running = false;
    await Promise.all(publishers);
    const times = [at, ...confirmedAt.filter((t) => t > at)];
    if (times.length === 1) throw new Error(`no confirm within 60 s of the ${fault}`);
    return Math.max(...times.slice(1).map((t, i) => t - times[i]!));
  } finally {
    running = false;
    await client.stop();
    for (const n of nodes.values()) { n.kill('SIGCONT'); n.kill('SIGKILL'); }
    for (const id of ids) await rm(dir(id), { recursive: true, force: true });
    const nc = await connect({ servers: NATS });
    const jsm = await nc.jetstreamManager();
    for (const b of [`KV_warren_${cluster}`, `KV_warren_${cluster}_ha`]) await jsm.streams.delete(b).catch(() => false);
    await nc.close();
  }
}

/** How long confirms after `at` have come without a gap of a second, until now (0: they have not). */
function flowingFor(times: readonly number[], at: number): number {
  let i = times.length - 1;
  if (i < 0 || times[i]! <= at || Date.now() - times[i]! > 1_000) return 0;
  while (i > 0 && times[i - 1]! > at && times[i]! - times[i - 1]! < 1_000) i--;
  return Date.now() - times[i]!;
}

/** The stalls per fault kind over `trials` trials. */
export async function runFailoverBench(trials = 3, backlog = 0): Promise<Record<FaultKind, number[]>> {
  const out: Record<FaultKind, number[]> = { SIGKILL: [], SIGSTOP: [] };
  for (let t = 0; t < trials; t++) {
    for (const fault of ['SIGKILL', 'SIGSTOP'] as const) out[fault].push(await measureFailover(fault, t, backlog));
  }
  return out;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(JSON.stringify(await runFailoverBench(Number(process.argv[2] ?? 1), Number(process.argv[3] ?? 0))));
  process.exit(0);
}
