// Rates over the last few seconds, as RabbitMQ's management rates are: each queue's counters are
// sampled now and then, and a rate is the change between the newest sample and the one a window older.
// Pure: the caller says when each sample was taken.

export interface Counts {
  readonly published: number;
  readonly delivered: number;
  readonly acked: number;
}

/** Per second. */
export interface Rates {
  readonly publish: number;
  readonly deliver: number;
  readonly ack: number;
}

interface Sample {
  readonly at: number;
  readonly counts: Counts;
}

/** RabbitMQ samples every 5 s: a rate is about the last 5 s of work. */
const RATE_WINDOW_MS = 5_000;

const NONE: Rates = Object.freeze({ publish: 0, deliver: 0, ack: 0 });

export class RateWindow<K> {
  /** Per key, oldest first: one sample at or before the window's start (the baseline), then the later ones. */
  private readonly samples = new Map<K, Sample[]>();

  constructor(private readonly windowMs = RATE_WINDOW_MS) {}

  sample(key: K, at: number, counts: Counts): void {
    const list = this.samples.get(key) ?? [];
    list.push({ at, counts });
    const start = at - this.windowMs;
    let baseline = 0;
    while (baseline < list.length - 2 && list[baseline + 1]!.at <= start) baseline++;
    list.splice(0, baseline);
    this.samples.set(key, list);
  }

  /** The key's queue closed here: its samples would only make a stale rate if it came back. */
  forget(key: K): void {
    this.samples.delete(key);
  }

  /** 0 until there are two samples. */
  rates(key: K): Rates {
    const list = this.samples.get(key);
    if (list === undefined || list.length < 2) return NONE;
    const first = list[0]!;
    const last = list[list.length - 1]!;
    const seconds = (last.at - first.at) / 1000;
    if (seconds <= 0) return NONE;
    // A counter that went back (its queue was rebuilt) has no rate to show until the baseline passes it.
    const per = (k: keyof Counts) => Math.max(0, last.counts[k] - first.counts[k]) / seconds;
    return { publish: per('published'), deliver: per('delivered'), ack: per('acked') };
  }
}
