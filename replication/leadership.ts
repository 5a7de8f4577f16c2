// One mirrored queue's leadership on this node: its lease, its mirror links and its side of the
// metadata. It decides when an append may be confirmed (LeaderLog's gate):
// - the lease is valid: renewed (a CAS write) less than 80% of a lease ago, so that a leader that was
//   paused (SIGSTOP, a long GC) stops confirming before any mirror may take over;
// - at least minInSync replicas are in sync, and a quorum of them holds the append (quorum.ts): the
//   leader and, of three, the first mirror to acknowledge it. A slow mirror holds nothing back.
// A mirror that lags counts for nothing from then on, and leaves inSync (by CAS, so that it can start
// over from a snapshot) once those that stay hold every confirmed append as a takeover expects.
// A CAS that finds a newer epoch, or a watch that shows one, deposes this leader: everything waiting
// is refused (NotConfirmed) and the node gives the queue up.
import { NotConfirmed } from '../node/errors.ts';
import type { NodeId, QueueName } from '../node/ids.ts';
import type { Framed, QueueLog } from '../storage/storage.ts';
import { LeaderLog } from './leader-log.ts';
import { CasConflict, type MetaStore, type QueueMeta, type Versioned } from './meta-store.ts';
import { MirrorLink, type MirrorRequests, type SendFrame } from './mirror-link.ts';
import { covered, held, type StreamPosition } from './quorum.ts';

export interface LeadershipOptions {
  readonly leaseMs: number;
  /** How long a publish may wait for enough in-sync mirrors before it is refused. */
  readonly stallMs: number;
}

export const defaultLeadership: LeadershipOptions = { leaseMs: 2_000, stallMs: 10_000 };

export interface MirrorStats {
  readonly nodeId: NodeId;
  readonly inSync: boolean;
  /** Appends the mirror has not acknowledged yet. */
  readonly lag: number;
  /** Snapshots this leader began for the mirror to start it over (none where it resumed after a takeover). */
  readonly snapshots: number;
}

export class Leadership {
  private current: Versioned;
  private leaseUntil = 0;
  private log: LeaderLog | undefined;
  private readonly links = new Map<NodeId, MirrorLink>();
  private writes: Promise<unknown> = Promise.resolve();
  private renewTimer: NodeJS.Timeout | undefined;
  private checkTimer: NodeJS.Timeout | undefined;
  private deposed = false;
  private stopped = false;
  /**
   * Mirrors on their way into inSync (the CAS in flight): from the moment one is caught up, confirms
   * need a quorum of inSync with it as well, so that the quorum holds whether or not the CAS lands.
   */
  private readonly joining = new Set<NodeId>();
  /** Mirrors on their way out of inSync (they lag): they count for no confirm from now on. */
  private readonly leaving = new Set<NodeId>();
  /** Woken when what the mirrors hold, or the metadata, may have changed. */
  private progressed: (() => void)[] = [];
  /** Handing the lead over (graceful stop): nothing more is confirmed here. */
  private handingOver = false;

  constructor(
    readonly queue: QueueName,
    private readonly self: NodeId,
    private readonly store: MetaStore,
    won: Versioned,
    send: (node: NodeId) => SendFrame,
    /**
     * Called once when this node is no longer the leader: 'deposed' (another node leads), or 'failed'
     * (it stepped down, and no in-sync mirror took the lead: the node claims it again after a pause).
     */
    private readonly onDeposed: (why: 'deposed' | 'failed') => void,
    private readonly opts: LeadershipOptions = defaultLeadership,
    /**
     * Requests to each mirror besides the frames, so that a mirror may follow on without a snapshot;
     * `held`: after a takeover, where this node stood in the old leader's stream.
     */
    mirrors?: { readonly requests: (node: NodeId) => MirrorRequests; readonly held?: StreamPosition },
  ) {
    this.current = won;
    this.leaseUntil = Date.now() + opts.leaseMs * 0.8;
    for (const node of won.meta.replicas) {
      if (node === self) continue;
      this.links.set(node, new MirrorLink(node, queue, () => this.log!, send(node), {
        acked: () => this.progress(),
        lagging: (n) => void this.leave(n),
        leaving: async (n) => { if (!(await this.leave(n))) throw new Error(`mirror ${n} is still in sync`); },
        caughtUp: (n) => void this.join(n),
      }, () => this.epoch, mirrors?.requests(node), mirrors?.held));
    }
  }

  get epoch(): number {
    return this.current.meta.epoch;
  }

  get meta(): QueueMeta {
    return this.current.meta;
  }

  /** Wraps the queue's log (at open, and again after a restart of the queue actor). */
  wrap(inner: QueueLog): QueueLog {
    const previous = this.log;
    previous?.refuseAll(new NotConfirmed(`queue '${this.queue}': the queue restarted`));
    // Lsns go on where the previous log ended: what the mirrors acknowledged of it stays comparable.
    this.log = new LeaderLog(inner, (lsn, since) => this.gate(lsn, since), (lsn, framed) => this.ship(lsn, framed), () => this.stepDown(), previous);
    if (!previous) {
      for (const link of this.links.values()) link.start();
      this.renewTimer = setInterval(() => this.renew(), this.opts.leaseMs / 4);
      this.checkTimer = setInterval(() => this.progress(), 100);
    } else {
      for (const link of this.links.values()) link.resync();
    }
    return this.log;
  }

  /** Resolves once every message the queue appended so far is committed (LeaderLog.messagesCommitted). */
  messagesCommitted(): Promise<void> {
    return this.log?.messagesCommitted() ?? Promise.reject(new NotConfirmed(`queue '${this.queue}': its log is not open`));
  }

  /** A metadata change seen by this node's watch. */
  observe(v: Versioned): void {
    if (v.revision <= this.current.revision) return;
    if (v.meta.epoch !== this.epoch || v.meta.leader !== this.self) return this.depose();
    this.current = v;
    this.progress();
  }

  stats(): MirrorStats[] {
    const lsn = this.log?.lsn ?? 0;
    return [...this.links.values()].map((l) => ({ nodeId: l.node, inSync: this.current.meta.inSync.includes(l.node), lag: Math.max(0, lsn - l.acked), snapshots: l.snapshots }));
  }

  /** The mirror's node is down (membership): it lags from now on, and starts over once it answers again. */
  mirrorDown(node: NodeId): void {
    this.links.get(node)?.fail(new Error(`mirror ${node}: its node is down`));
  }

  /**
   * Graceful stop: nothing more is confirmed here, and an in-sync mirror is named leader, which claims
   * the lead (epoch + 1) as soon as it sees that: a rolling restart costs no lease timeout.
   */
  /** Resolves with whether an in-sync mirror was named leader. */
  async handOff(): Promise<boolean> {
    this.handingOver = true;
    this.log?.refuseAll(new NotConfirmed(`queue '${this.queue}': its leader is stopping`));
    // The most complete in-sync mirror, if it holds every confirmed append: it leads without an election.
    const committed = this.log?.committed ?? 0;
    const to = [...this.links.values()]
      .filter((l) => this.current.meta.inSync.includes(l.node) && l.acked >= committed)
      .sort((a, b) => b.acked - a.acked)[0]?.node;
    const named = to !== undefined && (await this.write((m) => (m.inSync.includes(to) ? { ...m, leader: to } : m))) && this.current.meta.leader === to;
    this.stop();
    return named;
  }

  /**
   * This node cannot go on leading (its disk fails, or its queue actor was given up by its supervisor):
   * as a graceful stop, but while the node runs on. Without an in-sync mirror to hand over to, the queue
   * waits for this node, the only one holding all it confirmed: it is given back ('failed'), for the
   * node to claim again after a pause.
   */
  stepDown(): void {
    if (this.handingOver || this.deposed) return;
    // Named, the mirror leads from its claim on; should it never claim, the lease lapses for the others.
    void this.handOff().then((named) => this.depose(named ? 'deposed' : 'failed'), () => this.depose('failed'));
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.renewTimer);
    clearInterval(this.checkTimer);
    for (const link of this.links.values()) link.close();
    this.progress();
  }

  private gate(lsn: number, since: number): boolean | Error {
    if (this.deposed || this.handingOver) return new NotConfirmed(`queue '${this.queue}': this node is no longer its leader`);
    const { inSync, minInSync } = this.current.meta;
    const holds = (n: NodeId) => n === this.self || (!this.leaving.has(n) && (this.links.get(n)?.acked ?? 0) >= lsn);
    const withJoining = this.joining.size === 0 ? inSync : [...inSync, ...[...this.joining].filter((n) => !inSync.includes(n))];
    if (Date.now() < this.leaseUntil && held(inSync, minInSync, holds) && held(withJoining, minInSync, holds)) return true;
    if (Date.now() - since > this.opts.stallMs) {
      return new NotConfirmed(`queue '${this.queue}': no quorum of in-sync replicas (at least ${minInSync}) held it within ${this.opts.stallMs} ms`);
    }
    return false;
  }

  private ship(lsn: number, framed: Framed): void {
    for (const link of this.links.values()) link.push(lsn, framed);
  }

  private renew(): void {
    const started = Date.now();
    void this.write((m) => m, true).then((ok) => {
      if (ok) this.leaseUntil = started + this.opts.leaseMs * 0.8;
      this.log?.check();
    });
  }

  /** Settles what the gate now lets through, and wakes the mirrors waiting to leave. */
  private progress(): void {
    this.log?.check();
    for (const wake of this.progressed.splice(0)) wake();
  }

  /** The mirror caught up: into inSync. true once the metadata says so. */
  private async join(node: NodeId): Promise<boolean> {
    this.leaving.delete(node);
    this.joining.add(node);
    const ok = await this.write((m) => (m.inSync.includes(node) ? m : { ...m, inSync: [...m.inSync, node] }));
    this.joining.delete(node);
    this.progress();
    return ok && this.current.meta.inSync.includes(node);
  }

  /**
   * The mirror lags: out of inSync, as soon as the replicas that stay hold every confirmed append as
   * a takeover expects (they may still be acknowledging it). true once the metadata says so.
   */
  private async leave(node: NodeId): Promise<boolean> {
    this.joining.delete(node);
    this.leaving.add(node);
    // Checked in the write, against the metadata it changes: two mirrors leaving at once are counted one after the other.
    const holdsConfirmed = (n: NodeId) => n === this.self || (this.links.get(n)?.acked ?? 0) >= (this.log?.committed ?? 0);
    while (this.leaving.has(node) && !this.deposed && !this.stopped) {
      let blocked = false;
      const ok = await this.write((m) => {
        if (!m.inSync.includes(node)) return m;
        const rest = m.inSync.filter((n) => n !== node);
        if (!covered(rest, m.minInSync, holdsConfirmed)) {
          blocked = true;
          return m;
        }
        return { ...m, inSync: rest };
      });
      if (!ok) return false;
      if (!blocked) break;
      await new Promise<void>((r) => this.progressed.push(r));
    }
    this.progress();
    return !this.current.meta.inSync.includes(node);
  }

  /**
   * One CAS write at a time, from the metadata as this leader last knew it. A conflict is read again:
   * still ours (a write of ours raced a watch event), retried; someone else's epoch, deposed.
   */
  private write(change: (m: QueueMeta) => QueueMeta, renewal = false): Promise<boolean> {
    const attempt = async (): Promise<boolean> => {
      // Stopped: the queue closed here (handed off, or deleted with its metadata); nothing more is written.
      for (let tries = 0; tries < 5 && !this.deposed && !this.stopped; tries++) {
        try {
          const next = change(this.current.meta);
          if (next === this.current.meta && !renewal) return true;
          this.current = await this.store.update(this.queue, next, this.current.revision);
          return true;
        } catch (err) {
          if (!(err instanceof CasConflict)) return false;
          const fresh = await this.store.get(this.queue).catch(() => undefined);
          if (!fresh || fresh.meta.epoch !== this.epoch || fresh.meta.leader !== this.self) {
            this.depose();
            return false;
          }
          this.current = fresh;
        }
      }
      return false;
    };
    const done = this.writes.then(attempt, attempt);
    this.writes = done;
    return done;
  }

  private depose(why: 'deposed' | 'failed' = 'deposed'): void {
    if (this.deposed) return;
    this.deposed = true;
    this.stop();
    this.log?.refuseAll(new NotConfirmed(`queue '${this.queue}': this node is no longer its leader`));
    this.onDeposed(why);
  }
}
