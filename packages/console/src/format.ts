/** Durations and times the way an operator reads them. */
export function ms(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '–';
  if (value < 1000) return `${Math.round(value)} ms`;
  if (value < 60_000) return `${(value / 1000).toFixed(value < 10_000 ? 2 : 1)} s`;
  const m = Math.floor(value / 60_000);
  return `${m} min ${Math.round((value % 60_000) / 1000)} s`;
}

export function time(at: number | null | undefined): string {
  return at ? new Date(at).toLocaleTimeString() : '–';
}

export function pct(value: number | null | undefined): string {
  return value === null || value === undefined ? '–' : `${Math.round(value * 100)} %`;
}

export function bytes(value: number): string {
  return value > 1 << 20 ? `${(value / (1 << 20)).toFixed(1)} MiB` : `${Math.round(value / 1024)} KiB`;
}

/** A count and its noun, singular for one: "1 run", "3 runs". */
export function count(n: number, noun: string, plural = `${noun}s`): string {
  return `${n} ${n === 1 ? noun : plural}`;
}
