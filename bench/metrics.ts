// The figures reported per workload, each computed from one run's DriveResult. Tables, ratios,
// medians and the chart are all generated from these definitions.
import type { DriveResult } from './drive.ts';
import type { WorkloadId } from './workloads.ts';

export interface Metric {
  readonly key: string;
  readonly label: string;
  /** Digits after the point in the tables. */
  readonly digits: number;
  readonly better: 'higher' | 'lower';
  value(r: DriveResult): number;
}

const seconds = (fromMs: number, toMs: number) => (toMs - fromMs) / 1000;
const MiB = 1024 * 1024;

/** N / (last ack − first publish): messages published per second, end to end. */
export const rate: Metric = { key: 'rate', label: 'msgs/s', digits: 0, better: 'higher', value: (r) => r.n / seconds(r.firstPublishAt, r.lastAckAt) };
export const p50: Metric = { key: 'p50', label: 'p50 ms', digits: 1, better: 'lower', value: (r) => r.latencyP50Ms };
export const p99: Metric = { key: 'p99', label: 'p99 ms', digits: 1, better: 'lower', value: (r) => r.latencyP99Ms };

export const metrics: Record<WorkloadId, readonly Metric[]> = {
  w1: [rate, p50, p99],
  w2: [rate, p50, p99],
  w3: [
    { key: 'publish', label: 'burst published in s', digits: 1, better: 'lower', value: (r) => seconds(r.firstPublishAt, r.lastConfirmAt) },
    { key: 'drain', label: 'drained in s', digits: 1, better: 'lower', value: (r) => seconds(r.firstPublishAt, r.lastAckAt) },
    { key: 'peakRss', label: 'peak RSS MiB', digits: 0, better: 'lower', value: (r) => (r.rss ? r.rss.peakBytes / MiB : Number.NaN) },
    { key: 'rssGrowth', label: 'RSS growth MiB', digits: 0, better: 'lower', value: (r) => (r.rss ? (r.rss.peakBytes - r.rss.baselineBytes) / MiB : Number.NaN) },
  ],
};
