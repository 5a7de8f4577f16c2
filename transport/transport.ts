// The Transport interface: subject-based messaging with request/reply, NATS-shaped so that the
// in-process implementation and the NATS one are interchangeable and pass one contract suite.
export interface TransportMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly reply?: string;
}

export interface Subscription {
  unsubscribe(): void;
}

export type MessageHandler = (msg: TransportMessage) => void;

export interface Transport {
  readonly kind: 'local' | 'nats';
  /** The largest message it carries (a NATS server's max_payload). */
  readonly maxPayload: number;
  /** Fire and forget. */
  publish(subject: string, data: Uint8Array, reply?: string): void;
  /** Subjects are dot-separated tokens; `*` matches one token, `>` (last) one or more. */
  subscribe(subject: string, handler: MessageHandler, opts?: { queue?: string }): Subscription;
  /** Resolves with the first reply; rejects with TransportTimeout or NoResponders. */
  request(subject: string, data: Uint8Array, opts: { timeoutMs: number }): Promise<Uint8Array>;
  /** Resolves when everything published so far has left this process. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

export class TransportTimeout extends Error {
  constructor(readonly subject: string, readonly timeoutMs: number) {
    super(`request on '${subject}' timed out after ${timeoutMs} ms`);
    this.name = 'TransportTimeout';
  }
}

export class NoResponders extends Error {
  constructor(readonly subject: string) {
    super(`no responders on '${subject}'`);
    this.name = 'NoResponders';
  }
}
