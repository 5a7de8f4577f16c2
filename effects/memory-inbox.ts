// The in-memory inbox, for tests and single-process tools: the transaction is a list of effects that
// joins `committed` only if the handler returns, so it is exact within the process and forgets
// everything when the process ends.
import type { DeliveryKey, InboxOutcome, InboxStore } from './inbox-store.ts';
import { LocalInbox } from './local-inbox.ts';

export class MemoryInbox<E> implements InboxStore<E[]> {
  readonly committed: E[] = [];
  private readonly local = new LocalInbox();

  run(key: DeliveryKey, effect: (tx: E[]) => Promise<void>): Promise<InboxOutcome> {
    return this.local.run(key, async () => {
      const tx: E[] = [];
      await effect(tx);
      this.committed.push(...tx);
    });
  }
}

export const memoryStore = <E>(): MemoryInbox<E> => new MemoryInbox<E>();
