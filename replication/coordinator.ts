// Who leads each mirrored queue, as this node sees it. Every node watches the metadata; a node that
// is a replica of a queue:
// - takes the lead when the metadata names it leader but it does not lead (it restarted: its log holds
//   every confirmed message), with epoch + 1, by CAS;
// - takes over when it is in sync, the leader's lease lapsed (the metadata did not change for a whole
//   lease; the leader renews it every quarter lease), and enough of the other in-sync mirrors answer
//   that none holds more than it does (quorum.ts); again epoch + 1 by CAS, so that of several
//   candidates one wins. The new inSync is the new leader alone: the others catch up from it.
// A node that is not in sync never takes over: it may lack confirmed messages.
import type { NodeId, QueueName } from '../node/ids.ts';
import { CasConflict, type MetaStore, type Versioned } from './meta-store.ts';
import { mayTakeOver, type Position } from './quorum.ts';

export interface CoordinatorHooks {
  /** Every change, on every node (clients too): consumers follow the leader, replicas fence. */
  changed(queue: QueueName, v: Versioned): void;
  /** This node won the lead; resolves once the queue serves. */
  lead(queue: QueueName, v: Versioned): Promise<void>;
  /** The queue was deleted: `last` is its metadata as this node last saw it. */
  removed(queue: QueueName, last: Versioned): void;
  /** What a replica holds of the queue durably (this node's own too); undefined without an answer. */
  position(queue: QueueName, node: NodeId): Promise<Position | undefined>;
}

export class Coordinator {
  private readonly seen = new Map<QueueName, { v: Versioned; at: number }>();
  private readonly leading = new Set<QueueName>();
  private readonly claiming = new Set<QueueName>();
  /**
   * Queues this node gave back for a while (released with a pause): it claims none of them before
   * then, unless another node led it meanwhile (a later epoch, which may name this node to lead).
   */
  private readonly pausedUntil = new Map<QueueName, { readonly until: number; readonly epoch: number }>();
  private stopWatch: (() => void) | undefined;
  private retired = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly self: NodeId,
    private readonly store: MetaStore,
    private readonly hooks: CoordinatorHooks,
    private readonly leaseMs: number,
    /** Clients follow leaders but never hold replicas. */
    private readonly holdsReplicas: boolean,
  ) {}

  start(): void {
    this.stopWatch = this.store.watch((q, v) => this.onChange(q, v));
    if (this.holdsReplicas) this.timer = setInterval(() => this.check(), this.leaseMs / 4);
  }

  /** The latest metadata seen here. */
  meta(queue: QueueName): Versioned | undefined {
    return this.seen.get(queue)?.v;
  }

  /** This node gave the lead up (deposed, or stopping); `pauseMs`: it claims the queue again no sooner. */
  released(queue: QueueName, pauseMs = 0): void {
    this.leading.delete(queue);
    if (pauseMs > 0) this.pausedUntil.set(queue, { until: Date.now() + pauseMs, epoch: this.seen.get(queue)?.v.meta.epoch ?? 0 });
  }

  /**
   * The node is stopping: it claims no lead from now on (one it won would stay with a node that no
   * longer serves, the others out of sync), but still follows the metadata until stop().
   */
  retire(): void {
    this.retired = true;
  }

  stop(): void {
    this.retire();
    this.stopWatch?.();
    clearInterval(this.timer);
  }

  private onChange(queue: QueueName, v: Versioned | undefined): void {
    const last = this.seen.get(queue);
    if (!v) {
      // Forgotten, so that no node claims the lead of a deleted queue.
      this.seen.delete(queue);
      this.leading.delete(queue);
      this.pausedUntil.delete(queue);
      if (last) this.hooks.removed(queue, last.v);
      return;
    }
    if (last && last.v.revision >= v.revision) return;
    this.seen.set(queue, { v, at: Date.now() });
    this.hooks.changed(queue, v);
    if (this.holdsReplicas && v.meta.leader === this.self && !this.leading.has(queue)) void this.claim(queue, v);
  }

  private check(): void {
    const now = Date.now();
    for (const [queue, { v, at }] of this.seen) {
      const { meta } = v;
      if (!meta.replicas.includes(this.self) || this.leading.has(queue)) continue;
      const mine = meta.leader === this.self;
      // Candidates wait a little longer the later they come in inSync: fewer lost CAS races.
      const lapsed = now - at > this.leaseMs * (1 + 0.25 * meta.inSync.indexOf(this.self));
      if (mine) void this.claim(queue, v);
      else if (lapsed && meta.inSync.includes(this.self)) void this.claim(queue, v, () => this.mostComplete(queue, v));
    }
  }

  /** Whether this node holds as much as any of the in-sync mirrors that answer, and enough answer. */
  private async mostComplete(queue: QueueName, v: Versioned): Promise<boolean> {
    const { leader, inSync, minInSync } = v.meta;
    const others = inSync.filter((n) => n !== this.self && n !== leader);
    const [own, ...answers] = await Promise.all([this.self, ...others].map((n) => this.hooks.position(queue, n)));
    if (own === undefined) return false;
    const positions = new Map<NodeId, Position>();
    others.forEach((n, i) => { if (answers[i] !== undefined) positions.set(n, answers[i]!); });
    return mayTakeOver(this.self, leader, inSync, minInSync, own, positions);
  }

  private async claim(queue: QueueName, v: Versioned, eligible: () => Promise<boolean> = async () => true): Promise<void> {
    if (this.claiming.has(queue) || this.retired) return;
    const paused = this.pausedUntil.get(queue);
    if (paused !== undefined) {
      if (Date.now() < paused.until && v.meta.epoch <= paused.epoch) return;
      this.pausedUntil.delete(queue);
    }
    this.claiming.add(queue);
    try {
      if (!(await eligible()) || this.retired) return;
      const won = await this.store.update(queue, { ...v.meta, leader: this.self, epoch: v.meta.epoch + 1, inSync: [this.self] }, v.revision);
      this.leading.add(queue);
      this.seen.set(queue, { v: won, at: Date.now() });
      await this.hooks.lead(queue, won);
    } catch (err) {
      // Lost the race: the watch shows the winner. Anything else is retried by the next check.
      if (!(err instanceof CasConflict)) this.leading.delete(queue);
    } finally {
      this.claiming.delete(queue);
    }
  }
}
