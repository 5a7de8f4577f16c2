// The W1 chart as a hand-written SVG: one horizontal bar per system (msgs/s, median of the rounds),
// with the ratio to RabbitMQ classic; systems without a number show why instead of a bar.
import { num, times } from './format.ts';

export interface Bar {
  readonly label: string;
  readonly value: number;
  readonly ratio: number;
  /** Shown instead of a bar when there is no value. */
  readonly note?: string;
  readonly warren: boolean;
}

const WIDTH = 760;
const LABEL_W = 250;
const BAR_H = 22;
const GAP = 10;
const TOP = 40;
const PLOT_W = WIDTH - LABEL_W - 150;

function escape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export function chart(title: string, bars: readonly Bar[]): string {
  const max = Math.max(1, ...bars.map((b) => (Number.isFinite(b.value) ? b.value : 0)));
  const height = TOP + bars.length * (BAR_H + GAP) + 20;
  const rows = bars.map((b, i) => {
    const y = TOP + i * (BAR_H + GAP);
    const label = `<text x="${LABEL_W - 8}" y="${y + 15}" text-anchor="end">${escape(b.label)}</text>`;
    if (!Number.isFinite(b.value)) {
      return `${label}<text x="${LABEL_W}" y="${y + 15}" fill="#888" font-style="italic">${escape(b.note ?? 'no result')}</text>`;
    }
    const w = Math.max(1, (b.value / max) * PLOT_W);
    const fill = b.warren ? '#2f7d4f' : '#4a6fa5';
    return `${label}<rect x="${LABEL_W}" y="${y}" width="${w.toFixed(1)}" height="${BAR_H}" fill="${fill}"/>`
      + `<text x="${(LABEL_W + w + 6).toFixed(1)}" y="${y + 15}">${num(b.value, 0)} (${times(b.ratio)})</text>`;
  });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="13">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="${WIDTH / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${escape(title)}</text>`,
    ...rows,
    '</svg>',
    '',
  ].join('\n');
}
