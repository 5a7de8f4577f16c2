// Windowed rates from timestamped samples: given times, no clock.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RateWindow, type Counts } from './rates.ts';

const counts = (published: number, delivered = 0, acked = 0): Counts => ({ published, delivered, acked });

/** A 5 s window with these samples of key 'q', at the given times. */
function sampled(...samples: (readonly [at: number, counts: Counts])[]): RateWindow<string> {
  const w = new RateWindow<string>(5_000);
  for (const [at, c] of samples) w.sample('q', at, c);
  return w;
}

describe('RateWindow', () => {
  it('is 0 for a key it has one sample of, or none', () => {
    assert.deepEqual(sampled().rates('q'), { publish: 0, deliver: 0, ack: 0 });
    assert.deepEqual(sampled([1_000, counts(10)]).rates('q'), { publish: 0, deliver: 0, ack: 0 });
  });

  it('is the change per second between the first and the last sample while the window fills', () => {
    const w = sampled([0, counts(0)], [1_000, counts(100, 40, 20)]);
    assert.deepEqual(w.rates('q'), { publish: 100, deliver: 40, ack: 20 });
    w.sample('q', 2_000, counts(300, 40, 20));
    assert.deepEqual(w.rates('q'), { publish: 150, deliver: 20, ack: 10 });
  });

  it('measures from the last sample at or before the window start, so old work drops out', () => {
    const w = sampled([0, counts(0)], ...[1_000, 2_000, 3_000, 4_000, 5_000, 6_000].map((t) => [t, counts(1_000)] as const));
    // The baseline is the sample of t = 1000: the burst before it is out of the window.
    assert.equal(w.rates('q').publish, 0);
    w.sample('q', 7_000, counts(1_500));
    // From t = 2000 to 7000: 500 in 5 s.
    assert.equal(w.rates('q').publish, 100);
  });

  it('keeps a sample older than the window as the baseline when none is newer', () => {
    assert.equal(sampled([0, counts(0)], [20_000, counts(400)]).rates('q').publish, 20);
  });

  it('shows no negative rate when a counter goes back (its queue was rebuilt)', () => {
    assert.deepEqual(sampled([0, counts(50, 50, 50)], [1_000, counts(5, 5, 5)]).rates('q'), { publish: 0, deliver: 0, ack: 0 });
  });

  it('keeps keys apart, and forgets one on request', () => {
    const w = sampled([0, counts(0)], [2_000, counts(10)]);
    w.sample('other', 0, counts(0));
    w.sample('other', 2_000, counts(40));
    assert.equal(w.rates('q').publish, 5);
    assert.equal(w.rates('other').publish, 20);
    w.forget('q');
    assert.equal(w.rates('q').publish, 0);
    assert.equal(w.rates('other').publish, 20);
  });
});
