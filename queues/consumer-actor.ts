// The consumer actor runs the user's handler, one message at a time, under supervision. Its
// supervision decision is a queue operation: resume = ack and go on; restart = nack with backoff
// (redelivered, deliveryCount grows); stop or escalate = dead-letter the message and report up.
// Restarts past the intensity escalate too, but the message goes back to the queue: intensity bounds a
// failing actor (a downstream outage), the delivery limit bounds a poison message.
//
// Deliveries wait in the consumer's inbox, in order; the actor's mailbox only carries "work" signals,
// so one actor turn handles a run of messages instead of paying an actor turn per message.
import type Denque from 'denque';
import type { Behavior } from '../actors/actor.ts';
import type { Message } from '../node/message.ts';
import { backoffDelay, type BackoffOptions } from '../supervision/backoff.ts';
import { crashHandler, type Directive, type Strategy } from '../supervision/strategy.ts';

export type Handler = (msg: Message) => unknown;

export type ConsumerMsg = { readonly type: 'work' };

/**
 * Shared with the consumer's owner, outside the mailbox: a cancel must not wait behind work signals,
 * nor behind the supervisor's backoff of an escalating actor, and it outlives restarts.
 */
export interface ConsumerGate {
  /** Set by a cancel: no further message is handled. */
  draining: boolean;
  /** Settles when the handler in progress ends (however it ends); undefined between messages. */
  inHand: Promise<void> | undefined;
}

export interface ConsumerEnv {
  readonly handler: Handler;
  readonly ack: 'manual' | 'auto';
  readonly strategy: Strategy;
  readonly retry: BackoffOptions;
  /** Deliveries not yet handled, in order. */
  readonly inbox: Denque<Message>;
  readonly gate: ConsumerGate;
  /** Asks for another turn (a 'work' signal to this actor). */
  wake(): void;
  /** Supervision stopped this consumer: its host cancels the subscription and reports. */
  onStopped(error: unknown): void;
}


/**
 * Messages handled per actor turn before yielding to the rest of the node. A whole prefetch window of
 * the usual size: the turn's acks leave together, in one settle frame over NATS.
 */
const RUN_LENGTH = 256;

export function consumerBehavior(env: ConsumerEnv): Behavior<undefined, ConsumerMsg> {
  let failure: unknown;
  let current: Message | undefined;
  return {
    init: () => undefined,

    async receive() {
      // While draining, deliveries stay unsettled: cancelling returns them to the queue.
      for (let n = 0; n < RUN_LENGTH && !env.gate.draining; n++) {
        current = env.inbox.shift();
        if (!current) return undefined;
        const result = env.handler(current);
        if (isPromise(result)) {
          env.gate.inHand = result.then(() => {}, () => {});
          try {
            await result;
          } finally {
            env.gate.inHand = undefined;
          }
        }
        if (env.ack === 'auto' && !current.settled) void current.ack();
      }
      current = undefined;
      if (!env.inbox.isEmpty() && !env.gate.draining) env.wake();
      return undefined;
    },

    onCrash: crashHandler<ConsumerMsg>(env.strategy, ({ directive, exhausted, undecided, error }) => {
      const failed = current;
      current = undefined;
      // A broken decide is the strategy's fault, not the message's: it goes back for another consumer.
      if (failed && !failed.settled) void (undecided ? failed.nack({ requeue: true }) : settleFor(failed, exhausted ? 'restart' : directive, env.retry));
      // Kept for the close.
      failure = directive === 'stop' ? error : undefined;
      if (directive !== 'stop' && !env.inbox.isEmpty()) env.wake();
    }),

    afterStop: () => env.onStopped(failure),
  };
}

function isPromise(value: unknown): value is Promise<unknown> {
  return typeof (value as Promise<unknown> | undefined)?.then === 'function';
}

function settleFor(message: Message, directive: Directive, retry: BackoffOptions): Promise<void> {
  switch (directive) {
    case 'resume': return message.ack();
    case 'restart': return message.nack({ requeue: true, delayMs: backoffDelay(message.deliveryCount, retry) });
    case 'stop':
    case 'escalate': return message.reject();
  }
}
