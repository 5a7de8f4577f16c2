// The counting rules of a mirrored queue, pure. A confirm needs a quorum of the in-sync replicas (a
// majority, and never fewer than minInSync), so a slow mirror does not hold confirms back. Then no
// single mirror need hold everything, and a takeover must find the most complete one: a candidate asks
// enough of the other in-sync mirrors for what they hold that its answers meet every quorum, and leads
// only if none of them holds more than it does.
import type { NodeId } from '../node/ids.ts';

/** Replicas (leader included) that must hold an append before it is confirmed, with `inSync` replicas in sync. */
export function quorum(inSync: number, minInSync: number): number {
  return Math.max(minInSync, Math.floor(inSync / 2) + 1);
}

/**
 * Whether an append is held by a quorum of `inSync`, counting only `holders` (the leader and the
 * mirrors that acknowledged it). With fewer than minInSync in sync, nothing is.
 */
export function held(inSync: readonly NodeId[], minInSync: number, holders: (n: NodeId) => boolean): boolean {
  return inSync.length >= minInSync && count(inSync, holders) >= quorum(inSync.length, minInSync);
}

/**
 * In-sync replicas that hold every confirmed append: a quorum, or all of them when they are fewer than
 * minInSync (they were more when it was confirmed; a mirror leaves only when those left hold as much).
 */
export function coverage(inSync: number, minInSync: number): number {
  return Math.min(inSync, quorum(inSync, minInSync));
}

/** Whether `rest` (inSync without a mirror that is leaving) still has the coverage, counting those that hold every confirmed append. */
export function covered(rest: readonly NodeId[], minInSync: number, holdsAll: (n: NodeId) => boolean): boolean {
  return count(rest, holdsAll) >= coverage(rest.length, minInSync);
}

/**
 * Mirrors other than the candidate that must answer before it may take over: with the candidate they
 * meet every set of `coverage` in-sync replicas, the leader included, so one of them holds every
 * confirmed append.
 */
export function answersNeeded(inSync: number, minInSync: number): number {
  return inSync - coverage(inSync, minInSync);
}

/**
 * May `self` take over from `leader`? Only with enough answers (the highest seq each mirror holds
 * durably), and none of them ahead of its own: the stream reaches every mirror in the same order, so the
 * mirror that holds the highest seq holds every confirmed message.
 */
export function mayTakeOver(self: NodeId, leader: NodeId, inSync: readonly NodeId[], minInSync: number, own: number, answers: ReadonlyMap<NodeId, number>): boolean {
  if (!inSync.includes(self) || self === leader) return false;
  let counted = 0;
  for (const [node, position] of answers) {
    if (node === self || node === leader || !inSync.includes(node)) continue;
    if (position > own) return false;
    counted++;
  }
  return counted >= answersNeeded(inSync.length, minInSync);
}

function count(nodes: readonly NodeId[], yes: (n: NodeId) => boolean): number {
  let n = 0;
  for (const node of nodes) if (yes(node)) n++;
  return n;
}
