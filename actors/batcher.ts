// Batches on every hop: items added during one turn of the event loop leave together, as one actor
// message (one log append, one frame). Waiting for setImmediate rather than a microtask lets a whole
// burst of awaiting callers join the batch.
export class Batcher<T> {
  private items: T[] = [];
  private scheduled = false;

  constructor(private readonly flush: (items: T[]) => void) {}

  add(item: T): void {
    this.items.push(item);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      const batch = this.items;
      this.items = [];
      this.scheduled = false;
      this.flush(batch);
    });
  }
}
