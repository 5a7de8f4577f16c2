// Pull-style consumption: the deliveries of a manual-ack consumer, as an async iterator. Prefetch
// bounds how many messages wait here; leaving the loop or aborting cancels the consumer, and what
// was not acked goes back to the queue.
import type { Consumer, ConsumerClosed } from './consumer.ts';
import type { Message } from './message.ts';

export async function* messageStream(
  start: (push: (m: Message) => void) => Promise<Consumer>,
  signal?: AbortSignal,
): AsyncGenerator<Message, void, undefined> {
  if (signal?.aborted) return;
  const buffer: Message[] = [];
  let wake: (() => void) | undefined;
  const poke = () => { wake?.(); wake = undefined; };
  const consumer = await start((m) => { buffer.push(m); poke(); });
  let closed: ConsumerClosed | undefined;
  void consumer.closed.then((c) => { closed = c; poke(); });
  signal?.addEventListener('abort', poke, { once: true });
  try {
    for (;;) {
      // Once aborted or closed, buffered messages are not handed out: cancelling returns them. A loop
      // too slow for the ack timeout (it counts from delivery to the consumer: this buffer too) hears of it.
      if (closed?.reason === 'ack-timeout') throw closed.error;
      if (closed || signal?.aborted) return;
      const next = buffer.shift();
      if (next) yield next;
      else await new Promise<void>((r) => (wake = r));
    }
  } finally {
    // A signal may outlive many loops (a service's shutdown signal): each takes its listener with it.
    signal?.removeEventListener('abort', poke);
    // What came but was never handed out goes back unseen: a loop left early costs it no delivery.
    consumer.passOver(buffer);
    await consumer.cancel();
  }
}
