import { spawn } from 'node:child_process';
import { redisCli } from './redis.js';

/** What a Redis server has done so far: commands run, their own time, and its process CPU. */
export interface RedisCost {
  /** Commands run (INFO commandstats, every command, scripts' inner calls included). */
  calls: number;
  /** Microseconds spent in commands (INFO commandstats usec). */
  commandUs: number;
  /** CPU seconds of the redis-server process, user + system (INFO cpu). */
  cpuSeconds: number;
  /** Bytes Redis holds for data (INFO memory `used_memory`). */
  usedMemory: number;
}

const info = (port: number, section: string) => redisCli(port, 'INFO', section);

/** A snapshot of `port`'s counters; take two and subtract with {@link costDelta}. */
export function redisCost(port: number): RedisCost {
  let calls = 0;
  let innerCalls = 0;
  let commandUs = 0;
  for (const m of info(port, 'commandstats').matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)) {
    const [, name, n, us] = m;
    calls += Number(n);
    commandUs += Number(us);
    if (name === 'info') innerCalls += Number(n); // our own INFO calls are not the workload's
  }
  const cpu = info(port, 'cpu');
  const cpuSeconds =
    Number(/used_cpu_user:([\d.]+)/.exec(cpu)?.[1] ?? 0) + Number(/used_cpu_sys:([\d.]+)/.exec(cpu)?.[1] ?? 0);
  const usedMemory = Number(/^used_memory:(\d+)/m.exec(info(port, 'memory'))?.[1] ?? 0);
  return { calls: calls - innerCalls, commandUs, cpuSeconds, usedMemory };
}

export function costDelta(before: RedisCost, after: RedisCost): RedisCost {
  return {
    calls: after.calls - before.calls,
    commandUs: after.commandUs - before.commandUs,
    cpuSeconds: after.cpuSeconds - before.cpuSeconds,
    usedMemory: after.usedMemory - before.usedMemory,
  };
}

/** Calls clients sent (a script counts once) and what ran inside scripts, per command name. */
export interface CallCount {
  client: number;
  inner: number;
  byCommand: Map<string, number>;
}

/**
 * Count the calls that reach Redis at `port` while `fn` runs, with MONITOR (slow: use it on a
 * short run, for counts only, never for timings). Lines from inside a script say `lua]`.
 */
export async function countCalls<T>(port: number, fn: () => Promise<T>): Promise<{ result: T; count: CallCount }> {
  const monitor = spawn('redis-cli', ['-p', String(port), 'MONITOR'], { stdio: ['ignore', 'pipe', 'ignore'] });
  const count: CallCount = { client: 0, inner: 0, byCommand: new Map() };
  let rest = '';
  let started = false;
  monitor.stdout.setEncoding('utf8');
  monitor.stdout.on('data', (chunk: string) => {
    const lines = (rest + chunk).split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) {
      if (line.startsWith('OK')) started = true;
      const m = /^[\d.]+ \[\d+ ([^\]]+)\] "([^"]+)"/.exec(line);
      if (!m) continue;
      const inner = m[1] === 'lua';
      const name = m[2]!.toLowerCase() + (inner ? ' (in script)' : '');
      if (inner) count.inner++;
      else count.client++;
      count.byCommand.set(name, (count.byCommand.get(name) ?? 0) + 1);
    }
  });
  for (let i = 0; i < 100 && !started; i++) await new Promise((r) => setTimeout(r, 20));
  try {
    const result = await fn();
    await new Promise((r) => setTimeout(r, 300));
    return { result, count };
  } finally {
    monitor.kill('SIGTERM');
  }
}
