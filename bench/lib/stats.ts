/** Percentile of a sample (nearest rank). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export function summarize(sample: number[]): { p50: number; p99: number; max: number; n: number } {
  const sorted = [...sample].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.at(-1) ?? NaN, n: sorted.length };
}

/** RSS of a process in bytes, from /proc. */
export async function rssOf(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
  return Number(kb) * 1024;
}

/** CPU seconds a process has used in user space and in the kernel, from /proc (clock ticks at 100 Hz). */
export async function cpuSplitOf(pid: number): Promise<{ user: number; system: number }> {
  const { readFile } = await import('node:fs/promises');
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(fields[11]) / 100, system: Number(fields[12]) / 100 };
}

/** CPU seconds (user+system) a process has used. */
export async function cpuOf(pid: number): Promise<number> {
  const { user, system } = await cpuSplitOf(pid);
  return user + system;
}

/** The median of a sample (the mean of the middle two for an even count). */
export function median(sample: readonly number[]): number {
  const sorted = [...sample].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * The machine's load average (1, 5 and 15 minutes) against its core count, for the line every
 * bench prints: figures taken on a busy machine are not comparable with figures from an idle one.
 */
export async function loadAverage(): Promise<string> {
  const { cpus, loadavg } = await import('node:os');
  const [one, five, fifteen] = loadavg().map((n) => n.toFixed(2));
  return `load average ${one} / ${five} / ${fifteen} (1 / 5 / 15 min) on ${cpus().length} cores`;
}
