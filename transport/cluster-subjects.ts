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
  /** The queue's node (re)opened it, knowing no consumer yet: consumers elsewhere subscribe again. */
  opened(queue: string): string;
  /** REPLICATE frames to one node, for every mirrored queue it holds a replica of. */
  replicate(node: string): string;
  /** REPLICATE-PAIR frames to two nodes at once (in either order: the subject sorts them). */
  replicatePair(a: string, b: string): string;
  /** What a node subscribes to for the pairs it is in. */
  replicatePairsOf(node: string): readonly string[];
}

/** A subject one may publish to: dot-separated tokens, no wildcard, no space or control character. */
const PUBLISHABLE = /^[^\s.*>\x00-\x1f\x7f]+(\.[^\s.*>\x00-\x1f\x7f]+)*$/;

/**
 * For a reply-to that arrives inside a frame: an inbox subject only (a node's answer must not land on
 * any subject a frame names), and publishable (one that is not would break the connection's protocol).
 */
export function isReplyInbox(subject: string): boolean {
  return subject.startsWith('_INBOX.') && subject.length <= 256 && PUBLISHABLE.test(subject);
}

export function clusterSubjects(cluster: string): ClusterSubjects {
  const q = (queue: string) => `${cluster}.q.${queue.replaceAll('.', '~')}`;
  return {
    heartbeat: `${cluster}.hb`,
    publish: (queue) => `${q(queue)}.pub`,
    settle: (queue) => `${q(queue)}.settle`,
    control: (queue) => `${q(queue)}.ctl`,
    deliver: (consumer) => `${cluster}.c.${consumer}`,
    opened: (queue) => `${q(queue)}.opened`,
    replicate: (node) => `${cluster}.r.${node}`,
    replicatePair: (a, b) => (a < b ? `${cluster}.r2.${a}.${b}` : `${cluster}.r2.${b}.${a}`),
    replicatePairsOf: (node) => [`${cluster}.r2.${node}.*`, `${cluster}.r2.*.${node}`],
  };
}
