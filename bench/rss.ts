// Resident set size of a process, read from /proc (Linux): the Warren node's own, or a broker's.
import { readdirSync, readFileSync } from 'node:fs';

/** RSS in bytes, undefined when the process is gone or /proc is not readable. */
export function readRss(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** The pid of the largest-RSS process whose command name is `comm` (e.g. 'beam.smp'), if any. */
export function findPid(comm: string): number | undefined {
  let best: { pid: number; rss: number } | undefined;
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return undefined;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let name: string;
    try {
      name = readFileSync(`/proc/${entry}/comm`, 'utf8').trim();
    } catch {
      continue;
    }
    if (name !== comm) continue;
    const rss = readRss(Number(entry)) ?? 0;
    if (!best || rss > best.rss) best = { pid: Number(entry), rss };
  }
  return best?.pid;
}

export interface RssPeak {
  readonly pid: number;
  readonly baselineBytes: number;
  readonly peakBytes: number;
}

/** Samples a process's RSS every `everyMs` until stopped; the first sample is the baseline. */
export class RssSampler {
  private readonly baseline: number;
  private peak: number;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly pid: number, everyMs = 50) {
    this.baseline = readRss(pid) ?? Number.NaN;
    this.peak = this.baseline;
    this.timer = setInterval(() => this.sample(), everyMs);
  }

  stop(): RssPeak {
    this.sample();
    clearInterval(this.timer);
    return { pid: this.pid, baselineBytes: this.baseline, peakBytes: this.peak };
  }

  private sample(): void {
    const rss = readRss(this.pid);
    if (rss !== undefined && (Number.isNaN(this.peak) || rss > this.peak)) this.peak = rss;
  }
}
