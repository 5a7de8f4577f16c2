// The main example (`npm start`): an order system that shows the three reasons to use a queue.
//  - decoupling: system A publishes to a topic exchange; it does not know who listens. System D joins
//    later with its own queue and binding, and A's code does not change.
//  - async: A's publish returns on confirm (durable); B, C and D consume later, at their own pace.
//  - peak shaving: A publishes a burst; C is slow (like a database that takes limited concurrency)
//    and drains its backlog at its own rate while the queue holds the peak.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import cliProgress from 'cli-progress';
import { Warren } from '../index.ts';

const ORDERS = Number(process.env.ORDERS ?? 3000);
const REGIONS = ['eu', 'us', 'apac'];
const WAREHOUSE_WORKERS = 2;
const WAREHOUSE_MS = 2;

interface Order { id: number; region: string; amount: number }

const dataDir = await mkdtemp(path.join(tmpdir(), 'warren-example-'));
const node = await Warren.start({ dataDir });
const started = Date.now();

await node.declareExchange('orders', { type: 'topic' });
for (const [queue, pattern] of [['billing', 'order.created.*'], ['warehouse', 'order.#']] as const) {
  await node.declareQueue(queue);
  await node.bindQueue(queue, 'orders', pattern);
}

const consumed = { billing: 0, warehouse: 0, analytics: 0 };
const revenue = { total: 0 };

// B: billing is fast.
await node.consume('billing', (msg) => {
  revenue.total += msg.json<Order>().amount;
  consumed.billing++;
}, { prefetch: 256 });

// C: the warehouse writes to a slow store that takes two connections at most.
for (let i = 0; i < WAREHOUSE_WORKERS; i++) {
  await node.consume('warehouse', async () => {
    await new Promise((r) => setTimeout(r, WAREHOUSE_MS));
    consumed.warehouse++;
  }, { prefetch: 8 });
}

const bars = new cliProgress.MultiBar({
  format: ' {name} |{bar}| {value}/{total}',
  hideCursor: true,
  noTTYOutput: true,
  notTTYSchedule: 500,
}, cliProgress.Presets.shades_classic);
const bar = {
  published: bars.create(ORDERS, 0, { name: 'A published  ' }),
  billing: bars.create(ORDERS, 0, { name: 'B billing    ' }),
  warehouse: bars.create(ORDERS, 0, { name: 'C warehouse  ' }),
  analytics: bars.create(ORDERS, 0, { name: 'D analytics  ' }),
};

let peakBacklog = 0;
const sampler = setInterval(() => {
  for (const q of node.stats().queues) peakBacklog = Math.max(peakBacklog, q.ready + q.unacked);
  for (const k of ['billing', 'warehouse', 'analytics'] as const) bar[k].update(consumed[k]);
}, 50);

// A: the producer, a burst of orders with at most 256 unconfirmed at a time. Its code never changes.
let confirmed = 0;
async function systemA(from: number, to: number): Promise<void> {
  const inFlight = new Set<Promise<unknown>>();
  for (let id = from; id < to; id++) {
    const region = REGIONS[id % REGIONS.length]!;
    const p = node.publish({ exchange: 'orders', routingKey: `order.created.${region}` }, { id, region, amount: 10 + (id % 90) }, { id: `order-${id}` })
      .then(() => { confirmed++; bar.published.update(confirmed); inFlight.delete(p); });
    inFlight.add(p);
    if (inFlight.size >= 256) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
}

await systemA(0, ORDERS / 2);

// D: analytics joins halfway with its own queue and binding; it sees the orders from now on.
await node.declareQueue('analytics');
await node.bindQueue('analytics', 'orders', '#');
await node.consume('analytics', () => { consumed.analytics++; }, { prefetch: 256 });
bar.analytics.setTotal(ORDERS / 2);

await systemA(ORDERS / 2, ORDERS);

while (consumed.billing < ORDERS || consumed.warehouse < ORDERS || consumed.analytics < ORDERS / 2) {
  await new Promise((r) => setTimeout(r, 20));
}
clearInterval(sampler);
for (const k of ['billing', 'warehouse', 'analytics'] as const) bar[k].update(consumed[k]);
bars.stop();

const seconds = (Date.now() - started) / 1000;
const stats = node.stats();
await node.stop();
await rm(dataDir, { recursive: true, force: true });

console.log(`
Summary (embedded node, durable queues, fsync on confirm)
  published        ${ORDERS} orders, confirmed ${confirmed}
  consumed         billing ${consumed.billing}, warehouse ${consumed.warehouse}, analytics ${consumed.analytics} (joined halfway)
  revenue billed   ${revenue.total}
  peak backlog     ${peakBacklog} messages (the warehouse drains at its own pace)
  redeliveries     ${stats.queues.reduce((n, q) => n + q.redelivered, 0)}, dead letters ${stats.queues.reduce((n, q) => n + q.deadLettered, 0)}
  time             ${seconds.toFixed(2)} s`);
