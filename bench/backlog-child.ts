// One phase of the backlog benchmark, in its own process so that its RSS is the node's alone.
// Usage: node --import tsx bench/backlog-child.ts fill|recover|drain <dataDir> <n>
import { Warren } from '../index.ts';

const [phase, dataDir, n] = process.argv.slice(2);
if (!phase || !dataDir || !n) throw new Error('usage: backlog-child.ts fill|recover|drain <dataDir> <n>');
const N = Number(n);
const started = performance.now();
const node = await Warren.start({ dataDir });
await node.declareQueue('backlog');
if (phase === 'fill') {
  const body = new Uint8Array(1024);
  const inFlight = new Set<Promise<unknown>>();
  for (let i = 0; i < N; i++) {
    const p: Promise<unknown> = node.publish({ queue: 'backlog' }, body).then(() => inFlight.delete(p));
    inFlight.add(p);
    if (inFlight.size >= 256) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
} else if (phase === 'drain') {
  let acked = 0;
  await node.consume('backlog', () => { acked++; }, { prefetch: 256 });
  while (acked < N) await new Promise((r) => setTimeout(r, 10));
}
const ready = node.stats().queues[0]!.ready;
await node.stop();
process.stdout.write(JSON.stringify({ seconds: (performance.now() - started) / 1000, ready }));
