// Where a mirrored queue's replicas go: the leader's node and the least loaded other up servers, one
// replica per node (two copies on one node would fail together).
import type { NodeId } from '../node/ids.ts';

/** The leader first, then `mirrors` other nodes; undefined when there are not enough nodes. */
export function chooseReplicas(leader: NodeId, mirrors: number, servers: readonly NodeId[], load: (n: NodeId) => number): NodeId[] | undefined {
  const others = servers.filter((n) => n !== leader).sort((a, b) => load(a) - load(b) || a.localeCompare(b));
  if (others.length < mirrors) return undefined;
  return [leader, ...others.slice(0, mirrors)];
}
