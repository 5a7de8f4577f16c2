// Answers to a message that several nodes receive (a frame fanned out by a subject they share): each
// answers to a subject of its own under one subscription, so that nothing is subscribed per message.
import { randomUUID } from 'node:crypto';
import type { Subscription, Transport } from './transport.ts';

interface Waiting {
  readonly resolve: (data: Uint8Array) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

export class ReplyInbox {
  private readonly prefix = `_INBOX.warren.${randomUUID()}`;
  private readonly waiting = new Map<string, Waiting>();
  private sub: Subscription | undefined;
  private next = 0;
  private closed = false;

  constructor(private readonly transport: Transport) {}

  /** A subject to answer to, and the answer; rejects after `timeoutMs`, or when the inbox closes. Throws once closed. */
  expect(timeoutMs: number): { readonly subject: string; readonly answer: Promise<Uint8Array> } {
    if (this.closed) throw new Error('the inbox is closed');
    // Subscribed before the first message that names it goes out: one connection keeps that order.
    this.sub ??= this.transport.subscribe(`${this.prefix}.*`, (m) => {
      const token = m.subject.slice(this.prefix.length + 1);
      const w = this.waiting.get(token);
      if (!w) return;
      this.waiting.delete(token);
      clearTimeout(w.timer);
      w.resolve(m.data);
    });
    const token = String(this.next++);
    const answer = new Promise<Uint8Array>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(token);
        reject(new Error(`no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      timer.unref();
      this.waiting.set(token, { resolve, reject, timer });
    });
    return { subject: `${this.prefix}.${token}`, answer };
  }

  close(): void {
    this.closed = true;
    this.sub?.unsubscribe();
    this.sub = undefined;
    for (const w of this.waiting.values()) {
      clearTimeout(w.timer);
      w.reject(new Error('the inbox closed'));
    }
    this.waiting.clear();
  }
}
