// Helpers for tests that drive a node through the public API.
import assert from 'node:assert/strict';
import parsePrometheus, { type PrometheusFamily } from 'parse-prometheus-text-format';
import { Warren } from '../index.ts';

export async function memoryNode(): Promise<Warren> {
  return Warren.start({ dataDir: ':memory:' });
}

/** Polls until `cond` holds (it may ask asynchronously); fails after `limitMs` with `what` (a bound, not a timing assertion). */
export async function until(cond: () => boolean | Promise<boolean>, what: string, limitMs = 10_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`gave up waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export const texts = (n: number, prefix = 'm') => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

/**
 * The value of one sample in Prometheus text (parsed by a library, which throws on text that is not
 * Prometheus's), found by its family's name and type and the labels it must have; undefined if absent.
 */
export function promSample(text: string, name: string, type: PrometheusFamily['type'], labels: Readonly<Record<string, string>>): number | undefined {
  const family = parsePrometheus(text).find((f) => f.name === name);
  if (family === undefined) return undefined;
  assert.equal(family.type, type, `${name} is a ${family.type}`);
  const sample = family.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
  return sample === undefined ? undefined : Number(sample.value);
}
