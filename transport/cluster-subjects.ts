// Warren's subjects under a cluster prefix. A queue name may contain '.', NATS's token separator, so
// it goes into its subject as one token with '.' written as '~' (a character names cannot contain).
export interface ClusterSubjects {
  readonly heartbeat: string;
  /** PUBLISH frames in, PUBLISH_ACK frames back. */
  publish(queue: string): string;
  /** SETTLE frames in. */
  settle(queue: string): string;
  /** CONTROL requests: subscribe, cancel, reconcile. */
  control(queue: string): string;
  /** DELIVER frames to one consumer. */
  deliver(consumer: string): string;
  /** REPLICATE frames to one node, for every mirrored queue it holds a replica of. */
  replicate(node: string): string;
}

export function clusterSubjects(cluster: string): ClusterSubjects {
  const q = (queue: string) => `${cluster}.q.${queue.replaceAll('.', '~')}`;
  return {
    heartbeat: `${cluster}.hb`,
    publish: (queue) => `${q(queue)}.pub`,
    settle: (queue) => `${q(queue)}.settle`,
    control: (queue) => `${q(queue)}.ctl`,
    deliver: (consumer) => `${cluster}.c.${consumer}`,
    replicate: (node) => `${cluster}.r.${node}`,
  };
}
