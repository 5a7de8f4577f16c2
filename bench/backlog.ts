// The peak-shaving memory figure of issue 3: a backlog of 1,000,000 durable 1 KiB messages, filled,
// recovered after a restart, and drained, each phase in a fresh node process whose RSS is sampled.
// The node runs with a 128 MB V8 heap (as a memory-bounded service would be run): the live state of
// the backlog is a few bytes per message, and the cap keeps garbage from inflating RSS.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { entryPoint, childArgs } from './entry-point.ts';
import { readRss } from './rss.ts';

const CHILD = entryPoint('./backlog-child.ts', import.meta.url);
export const BACKLOG_HEAP_MB = 128;

export interface PhaseResult {
  readonly phase: 'fill' | 'recover' | 'drain';
  readonly seconds: number;
  readonly peakRssMb: number;
  readonly ready: number;
}

export async function runBacklogBench(n = 1_000_000): Promise<PhaseResult[]> {
  const dir = await mkdtemp(path.join(tmpdir(), 'warren-backlog-'));
  try {
    const out: PhaseResult[] = [];
    for (const phase of ['fill', 'recover', 'drain'] as const) out.push(await runPhase(phase, dir, n));
    return out;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function runPhase(phase: PhaseResult['phase'], dir: string, n: number): Promise<PhaseResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [`--max-old-space-size=${BACKLOG_HEAP_MB}`, ...childArgs, CHILD, phase, dir, String(n)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let peak = 0;
    const sampler = setInterval(() => { peak = Math.max(peak, readRss(child.pid!) ?? 0); }, 50);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => { stdout += c; });
    child.stderr.setEncoding('utf8').on('data', (c: string) => { stderr += c; });
    child.on('error', reject);
    child.on('exit', (code) => {
      clearInterval(sampler);
      if (code !== 0) return reject(new Error(`backlog ${phase} exited with ${code}: ${stderr.split('\n').slice(-3).join(' ')}`));
      const r = JSON.parse(stdout) as { seconds: number; ready: number };
      resolve({ phase, seconds: r.seconds, ready: r.ready, peakRssMb: peak / 2 ** 20 });
    });
  });
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  for (const r of await runBacklogBench(Number(process.argv[2] ?? 1_000_000))) {
    console.log(`${r.phase.padEnd(8)} ${r.seconds.toFixed(1).padStart(6)} s  peak RSS ${r.peakRssMb.toFixed(0)} MB  ready ${r.ready}`);
  }
}
