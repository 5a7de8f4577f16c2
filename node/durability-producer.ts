// The child of durability.test.ts: a producer process that publishes to a durable queue with
// confirms (256 in flight) and prints each confirmed id as soon as its publish resolves. The parent
// kills it with SIGKILL at a moment of its choosing.
// Usage: node --import tsx node/durability-producer.ts <dataDir> <first> <count>
import { Warren } from '../index.ts';

const [dataDir, first, count] = process.argv.slice(2);
if (dataDir === undefined || first === undefined || count === undefined) throw new Error('usage: durability-producer.ts <dataDir> <first> <count>');
const node = await Warren.start({ dataDir, nodeId: 'producer' });
await node.declareQueue('orders');
const inFlight = new Set<Promise<void>>();
for (let i = Number(first); i < Number(first) + Number(count); i++) {
  const id = `order-${i}`;
  const p: Promise<void> = node.publish({ queue: 'orders' }, { i }, { id }).then(() => {
    // Pipes are written synchronously on Linux: a printed id has left the process before the next step.
    process.stdout.write(`${id}\n`);
    inFlight.delete(p);
  });
  inFlight.add(p);
  if (inFlight.size >= 256) await Promise.race(inFlight);
}
await Promise.all(inFlight);
await node.stop();
