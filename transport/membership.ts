// Membership: every node announces itself on `<cluster>.hb` at a fixed interval; a node not heard
// from for `downAfterMs` is marked down, and listeners (queue leaders) return its consumers' messages.
import { z } from 'zod';
import type { Transport, Subscription } from './transport.ts';
import { NODE_ID } from '../node/ids.ts';

export interface MemberInfo {
  readonly nodeId: string;
  readonly up: boolean;
  readonly self: boolean;
  /** 'server' nodes hold queues; 'client' nodes (the CLI) only publish and consume. */
  readonly role: 'server' | 'client';
  readonly lastSeen: number;
}

export interface MembershipOptions {
  readonly intervalMs: number;
  readonly downAfterMs: number;
}

export const defaultMembership: MembershipOptions = { intervalMs: 250, downAfterMs: 2_000 };

const heartbeat = z.strictObject({ nodeId: z.string().regex(NODE_ID), role: z.enum(['server', 'client']), leaving: z.boolean() });
type Heartbeat = z.infer<typeof heartbeat>;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class Membership {
  private readonly members = new Map<string, { role: 'server' | 'client'; lastSeen: number; up: boolean }>();
  private readonly downListeners = new Set<(nodeId: string) => void>();
  /** Nodes not heard from that another node's request named (a consumer's), by when they were named. */
  private readonly expected = new Map<string, number>();
  private sub: Subscription | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Heartbeats that did not parse: a foreign client on our subject. */
  rejected = 0;

  constructor(
    private readonly transport: Transport,
    private readonly subject: string,
    readonly nodeId: string,
    private readonly role: 'server' | 'client',
    private readonly opts: MembershipOptions = defaultMembership,
  ) {}

  start(): void {
    this.sub = this.transport.subscribe(this.subject, (m) => this.heard(m.data));
    this.beat(false);
    this.timer = setInterval(() => { this.beat(false); this.sweep(); }, this.opts.intervalMs);
    this.timer.unref();
  }

  /** Says goodbye, so the others need not wait for the timeout. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.beat(true);
    await this.transport.flush().catch(() => {});
    this.sub?.unsubscribe();
  }

  /** Resolves after one heartbeat interval and a half: every live node has announced itself by then. */
  heardFromAll(): Promise<void> {
    return new Promise((r) => setTimeout(r, this.opts.intervalMs * 1.5));
  }

  onDown(listener: (nodeId: string) => void): () => void {
    this.downListeners.add(listener);
    return () => void this.downListeners.delete(listener);
  }

  /**
   * A request names a node this one has not heard from (it subscribed before its first heartbeat came,
   * or it is no node at all): unless it is heard from within downAfterMs, the down listeners are told,
   * as for a node that went silent, so that nothing stays held for it.
   */
  expect(nodeId: string): void {
    if (nodeId !== this.nodeId && !this.isUp(nodeId) && !this.expected.has(nodeId)) this.expected.set(nodeId, Date.now());
  }

  list(): MemberInfo[] {
    return [...this.members].map(([nodeId, m]) => ({ nodeId, up: m.up, self: nodeId === this.nodeId, role: m.role, lastSeen: m.lastSeen }))
      .sort((a, b) => a.nodeId.localeCompare(b.nodeId));
  }

  /** Up server nodes, for placement. */
  servers(): string[] {
    return this.list().filter((m) => m.up && m.role === 'server').map((m) => m.nodeId);
  }

  isUp(nodeId: string): boolean {
    return this.members.get(nodeId)?.up ?? false;
  }

  private beat(leaving: boolean): void {
    const hb: Heartbeat = { nodeId: this.nodeId, role: this.role, leaving };
    this.transport.publish(this.subject, encoder.encode(JSON.stringify(hb)));
  }

  private heard(data: Uint8Array): void {
    let hb: Heartbeat;
    try {
      hb = heartbeat.parse(JSON.parse(decoder.decode(data)));
    } catch {
      this.rejected++;
      return;
    }
    this.expected.delete(hb.nodeId);
    if (hb.leaving) return this.markDown(hb.nodeId);
    this.members.set(hb.nodeId, { role: hb.role, lastSeen: Date.now(), up: true });
  }

  private sweep(): void {
    const now = Date.now();
    for (const [nodeId, m] of this.members) {
      if (m.up && nodeId !== this.nodeId && now - m.lastSeen > this.opts.downAfterMs) this.markDown(nodeId);
    }
    for (const [nodeId, since] of this.expected) {
      if (now - since <= this.opts.downAfterMs) continue;
      this.expected.delete(nodeId);
      for (const l of this.downListeners) l(nodeId);
    }
  }

  private markDown(nodeId: string): void {
    const m = this.members.get(nodeId);
    if (!m || !m.up || nodeId === this.nodeId) return;
    m.up = false;
    for (const l of this.downListeners) l(nodeId);
  }
}
