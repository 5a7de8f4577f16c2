// Names every system derives from a run's unique name, so that create and delete agree.
import type { Topology } from './types.ts';

/** The queues of a topology: the name itself, or `<name>.0` … for a fan-out. */
export function queueNames(name: string, topology: Topology): string[] {
  return topology.kind === 'queue' ? [name] : Array.from({ length: topology.queues }, (_, i) => `${name}.${i}`);
}
