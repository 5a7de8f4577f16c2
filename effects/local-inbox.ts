// The fence and the dedup of an inbox that lives in one process (the memory and file stores). A
// delivery claims its message at once (the highest delivery count that started), then waits its turn:
// deliveries of one message run one after another, so the check and the record cannot interleave.
// A restart needs no fence from before it: no delivery of the old process outlives it.
import { inboxKey, type DeliveryKey, type InboxOutcome } from './inbox-store.ts';

export class LocalInbox {
  /** Highest delivery count started, for messages not recorded yet. */
  private readonly started = new Map<string, number>();
  /** The tail of each message's line of deliveries; gone when the line is empty. */
  private readonly turns = new Map<string, Promise<unknown>>();

  constructor(private readonly recorded: Set<string> = new Set()) {}

  /** `apply` runs the effect and records it; it runs only for a delivery that is neither a duplicate nor fenced. */
  run(key: DeliveryKey, apply: () => Promise<void>): Promise<InboxOutcome> {
    const k = inboxKey(key);
    if (!this.recorded.has(k)) this.started.set(k, Math.max(this.started.get(k) ?? 0, key.deliveryCount));
    const turn = (this.turns.get(k) ?? Promise.resolve()).catch(() => {}).then(async (): Promise<InboxOutcome> => {
      if (this.recorded.has(k)) return 'duplicate';
      if ((this.started.get(k) ?? 0) > key.deliveryCount) return 'fenced';
      await apply();
      this.recorded.add(k);
      this.started.delete(k);
      return 'applied';
    });
    this.turns.set(k, turn);
    const last = () => { if (this.turns.get(k) === turn) this.turns.delete(k); };
    turn.then(last, last);
    return turn;
  }
}
