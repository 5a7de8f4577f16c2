// Counts what a run delivered and acked, per queue: distinct messages, duplicates, corrupt bodies,
// publish→deliver latencies, and the moment of the last ack. It decides when a run is complete.
import { decodeBody, now } from './payload.ts';
import { percentile } from './stats.ts';

export interface Tally {
  readonly n: number;
  readonly queues: number;
  /** Distinct messages delivered, summed over queues (complete = n × queues). */
  readonly distinct: number;
  /** Deliveries of a message the queue had delivered before. */
  readonly duplicates: number;
  readonly corrupt: number;
  readonly complete: boolean;
  readonly firstPublishAt: number;
  readonly lastAckAt: number;
  readonly latencyP50Ms: number;
  readonly latencyP99Ms: number;
}

export class Tracker {
  private readonly seen: Uint8Array[];
  private readonly latencies: Float64Array;
  private latencyCount = 0;
  private distinct = 0;
  private duplicates = 0;
  private corrupt = 0;
  private acked = 0;
  private firstPublishAt = Number.NaN;
  private lastAckAt = Number.NaN;
  /** Signs of life so far: counted, not timed (a clock read per event cost more than the count). */
  private events = 0;
  private ended = false;
  private finish: (() => void) | undefined;

  constructor(readonly n: number, readonly queues: number) {
    this.seen = Array.from({ length: queues }, () => new Uint8Array(n));
    this.latencies = new Float64Array(n * queues);
  }

  /** Called just before the first publish: the start of the measured interval. */
  started(): void {
    this.firstPublishAt = now();
    this.progress();
  }

  /** Any sign of life (a confirm, a delivery, an ack) postpones the stall deadline. */
  progress(): void {
    this.events++;
  }

  /** True when this is the first delivery of the message on this queue (only those are counted). */
  delivered(queue: number, body: Uint8Array): boolean {
    this.progress();
    const stamp = decodeBody(body);
    const seen = this.seen[queue];
    if (stamp === undefined || seen === undefined || stamp.seq >= this.n) {
      this.corrupt++;
      return false;
    }
    if (seen[stamp.seq] !== 0) {
      this.duplicates++;
      return false;
    }
    seen[stamp.seq] = 1;
    this.distinct++;
    this.latencies[this.latencyCount++] = now() - stamp.sentAt;
    return true;
  }

  /** The ack of a first delivery went through. */
  ackedOne(): void {
    this.lastAckAt = now();
    this.events++;
    if (++this.acked === this.n * this.queues) this.end();
  }

  /** Resolves when every queue acked every message, or when nothing happened for `stallMs`. */
  done(stallMs: number): Promise<void> {
    if (this.ended) return Promise.resolve();
    return new Promise((resolve) => {
      let seen = this.events;
      let lastChangeAt = now();
      const timer = setInterval(() => {
        if (this.events !== seen) {
          seen = this.events;
          lastChangeAt = now();
        } else if (now() - lastChangeAt > stallMs) {
          this.end();
        }
      }, Math.min(1000, stallMs));
      this.finish = () => {
        clearInterval(timer);
        this.finish = undefined;
        resolve();
      };
    });
  }

  /** Ends the wait of `done` now: the run failed. */
  halt(): void {
    this.end();
  }

  private end(): void {
    this.ended = true;
    this.finish?.();
  }

  tally(): Tally {
    const sorted = this.latencies.subarray(0, this.latencyCount).sort();
    return {
      n: this.n,
      queues: this.queues,
      distinct: this.distinct,
      duplicates: this.duplicates,
      corrupt: this.corrupt,
      complete: this.acked === this.n * this.queues,
      firstPublishAt: this.firstPublishAt,
      lastAckAt: this.lastAckAt,
      latencyP50Ms: percentile(sorted, 50),
      latencyP99Ms: percentile(sorted, 99),
    };
  }
}
