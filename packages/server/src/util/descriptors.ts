import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';

/** The process's open-file limits (`RLIMIT_NOFILE`); `hard` is `Infinity` when unlimited. */
export interface DescriptorLimit {
  soft: number;
  hard: number;
}

/**
 * The process's descriptor limit as Linux reports it in `/proc/self/limits`; undefined where
 * there is no such file (not Linux) or it cannot be read.
 */
export async function readDescriptorLimit(path = '/proc/self/limits'): Promise<DescriptorLimit | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
  const line = /^Max open files\s+(\S+)\s+(\S+)/m.exec(text);
  if (!line) return undefined;
  const figure = (s: string) => (s === 'unlimited' ? Infinity : Number(s));
  const soft = figure(line[1]!);
  const hard = figure(line[2]!);
  return Number.isNaN(soft) || Number.isNaN(hard) ? undefined : { soft, hard };
}

/**
 * Raise the soft descriptor limit to the hard one, as `ulimit -n $(ulimit -Hn)` would, and
 * return the limit in force afterwards. Node has no `setrlimit`, so this asks util-linux's
 * `prlimit` to do it for this process; without it (or off Linux) the limit stays as it is, and
 * the result is undefined when it cannot be read at all. Never throws.
 *
 * Node itself raises the soft limit at startup on most systems, so there is often nothing to do;
 * a process started with `--no-adjust-resource-limits`, or embedded, may still need it.
 */
export async function raiseDescriptorLimit(): Promise<DescriptorLimit | undefined> {
  const before = await readDescriptorLimit();
  // An unlimited hard limit cannot be asked for as a soft one (the kernel caps it at nr_open).
  if (!before || before.soft >= before.hard || !Number.isFinite(before.hard)) return before;
  try {
    await promisify(execFile)('prlimit', [`--pid=${process.pid}`, `--nofile=${before.hard}:${before.hard}`], {
      timeout: 2000,
    });
  } catch {
    return before;
  }
  return (await readDescriptorLimit()) ?? before;
}

/**
 * The connection cap a descriptor limit allows (config `maxConnections` 0): the soft limit less
 * a tenth of it (at least 64) for storage, logs and outgoing connections, less the probe
 * reserve. Undefined when the limit is unknown or unlimited: the node then sets no cap.
 */
export function derivedMaxConnections(limit: DescriptorLimit | undefined, reserve: number): number | undefined {
  if (!limit || !Number.isFinite(limit.soft)) return undefined;
  const headroom = Math.max(64, Math.ceil(limit.soft / 10));
  return Math.max(1, limit.soft - headroom - reserve);
}
