// The counting rules of a mirrored queue, pure. A confirm needs a quorum of the in-sync replicas (a
// majority, and never fewer than minInSync), so a slow mirror does not hold confirms back. Then no
// single mirror need hold everything, and a takeover must find the most complete one: a candidate asks
// enough of the other in-sync mirrors for what they hold that its answers meet every quorum, and leads
// only if none of them holds more than it does.
import type { NodeId } from '../node/ids.ts';
import type { StreamMark } from '../storage/storage.ts';

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

/** A place in the stream of records of the leader of `epoch`: every record up to `lsn` (a mirror's log marks it). */
export type StreamPosition = StreamMark;

/** What a mirror holds of a queue, durably. */
export interface Position {
  /** The highest seq: of the enqueues, which every mirror gets in the same order. */
  readonly seq: number;
  /**
   * Where it is in the stream of the leader of `epoch`: it holds every record up to `lsn`, and none
   * after. Known while the mirror runs, and after a restart from its log's last mark; a mirror that
   * crashed part-way through an append, or whose log recovery repaired, knows its seq only.
   */
  readonly stream?: StreamPosition;
}

/**
 * Whether `b` holds more than `a`. Mirrors of one leader's stream hold prefixes of it: the longer one
 * holds every record of the shorter, acks and dead-letterings too, so their lsns decide. Otherwise the
 * highest seq does: the enqueues reach every mirror in the same order, so the mirror with the highest
 * holds every confirmed message (an ack held only by the other may then be lost: a redelivery).
 */
export function ahead(a: Position, b: Position): boolean {
  if (a.stream && b.stream && a.stream.epoch === b.stream.epoch) return b.stream.lsn > a.stream.lsn;
  return b.seq > a.seq;
}

/**
 * May `self` take over from `leader`? Only with enough answers, and none of them ahead of its own.
 */
export function mayTakeOver(self: NodeId, leader: NodeId, inSync: readonly NodeId[], minInSync: number, own: Position, answers: ReadonlyMap<NodeId, Position>): boolean {
  if (!inSync.includes(self) || self === leader) return false;
  let counted = 0;
  for (const [node, position] of answers) {
    if (node === self || node === leader || !inSync.includes(node)) continue;
    if (ahead(own, position)) return false;
    counted++;
  }
  return counted >= answersNeeded(inSync.length, minInSync);
}

function count(nodes: readonly NodeId[], yes: (n: NodeId) => boolean): number {
  let n = 0;
  for (const node of nodes) if (yes(node)) n++;
  return n;
}
