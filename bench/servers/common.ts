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
