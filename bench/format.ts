// Number formatting shared by the report and the chart.

export function num(value: number, digits: number): string {
  if (!Number.isFinite(value)) return '–';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function times(r: number): string {
  return Number.isFinite(r) ? `${num(r, 2)}×` : '–';
}
