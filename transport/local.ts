// The in-process transport: a subject bus inside one Node process. Delivery is asynchronous (a
// microtask later), as over a network, so code that works here does not rely on re-entrancy.
import { MAX_FRAME_BYTES } from './frame.ts';
import { randomUUID } from 'node:crypto';
import { subjectMatches } from './subjects.ts';
import {
  NoResponders, TransportTimeout,
  type MessageHandler, type Subscription, type Transport, type TransportMessage,
} from './transport.ts';

interface Sub { readonly pattern: string; readonly handler: MessageHandler; readonly queue?: string }

/** One bus is one "server": transports connected to the same bus see each other. */
export class LocalBus {
  private readonly subs = new Set<Sub>();
  private rr = 0;

  add(sub: Sub): Subscription {
    this.subs.add(sub);
    return { unsubscribe: () => void this.subs.delete(sub) };
  }

  /** Returns how many subscribers the message reached (queue groups count once). */
  deliver(msg: TransportMessage): number {
    const groups = new Map<string, Sub[]>();
    const plain: Sub[] = [];
    for (const sub of this.subs) {
      if (!subjectMatches(sub.pattern, msg.subject)) continue;
      if (sub.queue === undefined) plain.push(sub);
      else groups.set(sub.queue, [...(groups.get(sub.queue) ?? []), sub]);
    }
    const chosen = [...plain, ...[...groups.values()].map((members) => members[this.rr++ % members.length]!)];
    for (const sub of chosen) queueMicrotask(() => sub.handler(msg));
    return chosen.length;
  }
}

export class LocalTransport implements Transport {
  readonly kind = 'local' as const;
  readonly maxPayload = MAX_FRAME_BYTES;
  private readonly own = new Set<Subscription>();
  private closed = false;

  constructor(private readonly bus: LocalBus = new LocalBus()) {}

  publish(subject: string, data: Uint8Array, reply?: string): void {
    if (this.closed) return;
    this.bus.deliver(reply === undefined ? { subject, data } : { subject, data, reply });
  }

  subscribe(subject: string, handler: MessageHandler, opts: { queue?: string } = {}): Subscription {
    const sub = this.bus.add(opts.queue === undefined ? { pattern: subject, handler } : { pattern: subject, handler, queue: opts.queue });
    this.own.add(sub);
    return { unsubscribe: () => { sub.unsubscribe(); this.own.delete(sub); } };
  }

  request(subject: string, data: Uint8Array, { timeoutMs }: { timeoutMs: number }): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      const inbox = `_INBOX.${randomUUID()}`;
      const sub = this.bus.add({
        pattern: inbox,
        handler: (msg) => { clearTimeout(timer); sub.unsubscribe(); resolve(msg.data); },
      });
      const timer = setTimeout(() => { sub.unsubscribe(); reject(new TransportTimeout(subject, timeoutMs)); }, timeoutMs);
      if (this.bus.deliver({ subject, data, reply: inbox }) === 0) {
        clearTimeout(timer);
        sub.unsubscribe();
        reject(new NoResponders(subject));
      }
    });
  }

  async flush(): Promise<void> {}

  async close(): Promise<void> {
    this.closed = true;
    for (const sub of this.own) sub.unsubscribe();
    this.own.clear();
  }
}
