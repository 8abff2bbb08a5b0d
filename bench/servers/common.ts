import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Shared by the benchmark servers: report readiness and answer `gc` requests over IPC. */
export function ready(info: Record<string, unknown>): void {
  process.send?.({ type: 'ready', ...info });
  process.on('message', (m: { type?: string }) => {
    if (m?.type === 'gc') {
      (globalThis as { gc?: () => void }).gc?.();
      process.send?.({ type: 'gc-done' });
    }
  });
}

export const port = Number(process.argv[2] ?? 0);

/** A fresh temporary data directory for a benchmark node. */
export function benchDataDir(prefix = 'inloop-bench-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** On SIGTERM (the bench is done with it), close the node, remove its data directory and exit. */
export function closeOnSigterm(node: { close(): Promise<void> }, dataDir: string): void {
  process.on('SIGTERM', () => {
    void node.close().then(() => {
      rmSync(dataDir, { recursive: true, force: true });
      process.exit(0);
    });
  });
}
