// The message a consumer's handler receives. Settling it (ack, nack, reject) goes back to its queue.
import type { MessageId, QueueName, Seq } from './ids.ts';
import type { Headers } from '../storage/storage.ts';
import type { Outcome } from '../queues/queue-machine.ts';
import { InvalidArgument, WarrenError } from './errors.ts';

/** Where a message's settlement goes: its consumer, which batches it to the queue. */
export interface Settler {
  /** `id`: the message's, so that a seq given to another message since (a queue that lost its last writes) is not settled for it. */
  settle(seq: Seq, outcome: Outcome, delayMs: number | undefined, id: MessageId): Promise<void>;
}

export class AlreadySettled extends WarrenError {
  constructor(id: string) { super('INVALID_ARGUMENT', `message '${id}' is already settled`); }
}

const decoder = new TextDecoder();

export class Message {
  private settledAs: Outcome | undefined;

  constructor(
    readonly queue: QueueName,
    private readonly settler: Settler,
    readonly seq: Seq,
    readonly id: MessageId,
    readonly body: Uint8Array,
    readonly headers: Headers,
    /** 1 on first delivery; counts every delivery, across restarts. */
    readonly deliveryCount: number,
  ) {}

  get redelivered(): boolean {
    return this.deliveryCount > 1;
  }

  /** Settled by the handler, or by the consumer on its behalf. */
  get settled(): boolean {
    return this.settledAs !== undefined;
  }

  text(): string {
    return decoder.decode(this.body);
  }

  json<T = unknown>(): T {
    return JSON.parse(this.text()) as T;
  }

  ack(): Promise<void> {
    return this.settle('ack');
  }

  /** requeue (default true): back in line, after delayMs if given; requeue false: dead-lettered. */
  nack(opts: { requeue?: boolean; delayMs?: number } = {}): Promise<void> {
    const { delayMs } = opts ?? {};
    if (delayMs !== undefined && !(Number.isInteger(delayMs) && delayMs >= 0)) {
      return Promise.reject(new InvalidArgument(`nack: delayMs must be a whole number of ms, 0 or more (got ${String(delayMs)})`));
    }
    return opts?.requeue === false ? this.settle('dead-letter') : this.settle('requeue', delayMs);
  }

  /** Straight to the dead-letter queue. */
  reject(): Promise<void> {
    return this.settle('dead-letter');
  }

  private settle(outcome: Outcome, delayMs?: number): Promise<void> {
    if (this.settledAs !== undefined) return Promise.reject(new AlreadySettled(this.id));
    this.settledAs = outcome;
    return this.settler.settle(this.seq, outcome, delayMs, this.id);
  }
}
