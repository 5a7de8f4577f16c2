// Bounded mailboxes. nact's mailboxes are unbounded, so the bound is kept here, over the messages told
// but not yet taken by the actor; what the policy does when they reach capacity is ours. The messages
// themselves are kept (not just counted) because nact loses some at stop: the one whose turn it had
// already scheduled, and any told between its stop and afterStop. What is still here once the actor has
// stopped is exactly what it never handled.
import Denque from 'denque';

export type OverflowPolicy =
  /** tell() throws MailboxFull: the sender feels the backpressure. */
  | 'reject'
  /** the new message goes to dead letters; the sender goes on. */
  | 'dead-letter';

export interface MailboxOptions {
  readonly capacity: number;
  readonly overflow: OverflowPolicy;
}

export const unbounded: MailboxOptions = { capacity: Number.POSITIVE_INFINITY, overflow: 'reject' };

export class Mailbox<M> {
  private readonly pending = new Denque<M>();
  constructor(readonly options: MailboxOptions) {}

  /** Takes a message in; false when the mailbox is full. */
  tryEnqueue(msg: M): boolean {
    if (this.pending.length >= this.options.capacity) return false;
    this.pending.push(msg);
    return true;
  }

  /** The actor took its next message: nact hands them over in the order they were told. */
  taken(): void {
    this.pending.shift();
  }

  /** Empties the mailbox: once the actor has stopped, these are the messages it never handled. */
  drain(): M[] {
    const left = this.pending.toArray();
    this.pending.clear();
    return left;
  }

  get size(): number {
    return this.pending.length;
  }
}
