// A token bucket that runs queued actions at most `perSecond` times a second: W3's slow consumer.

const TICK_MS = 5;

export class Pacer {
  private readonly waiting: (() => void)[] = [];
  private head = 0;
  private tokens = 0;
  private last = performance.now();
  private readonly timer: NodeJS.Timeout;
  // A tick's worth of burst at most, so an idle consumer does not save up credit for later.
  private readonly capacity: number;

  constructor(private readonly perSecond: number) {
    this.capacity = Math.max(1, (perSecond * TICK_MS) / 1000);
    this.timer = setInterval(() => this.tick(), TICK_MS);
  }

  push(action: () => void): void {
    this.waiting.push(action);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private tick(): void {
    const t = performance.now();
    this.tokens = Math.min(this.capacity, this.tokens + ((t - this.last) * this.perSecond) / 1000);
    this.last = t;
    while (this.tokens >= 1 && this.head < this.waiting.length) {
      this.tokens--;
      this.waiting[this.head++]!();
    }
    // Drop the consumed prefix now and then instead of shifting on every action.
    if (this.head > 4096 && this.head * 2 > this.waiting.length) {
      this.waiting.splice(0, this.head);
      this.head = 0;
    }
  }
}
