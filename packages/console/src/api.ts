/**
 * The console's only way to the node: the documented `/v1` APIs with the API key (or admin
 * token) as a Bearer header. The key lives in this tab's sessionStorage, never in a URL.
 */
const KEY = 'inloop.console.key';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    detail: string,
  ) {
    super(detail);
  }
}

export const credential = {
  get: (): string | null => sessionStorage.getItem(KEY),
  set: (key: string): void => sessionStorage.setItem(KEY, key),
  clear: (): void => sessionStorage.removeItem(KEY),
};

/** Signed-out listeners (a 401 anywhere signs the console out). */
const signedOut = new Set<() => void>();
export const onSignedOut = (f: () => void): void => void signedOut.add(f);

export async function api<T>(path: string, init: RequestInit = {}, key = credential.get()): Promise<T> {
  const response = await fetch(path, {
    ...init,
    headers: {
      ...(key ? { authorization: `Bearer ${key}` } : {}),
      ...(init.body ? { 'content-type': 'application/json' } : {}),
      ...(init.headers as Record<string, string> | undefined),
    },
  });
  if (!response.ok) {
    const problem = (await response.json().catch(() => ({}))) as { code?: string; detail?: string; title?: string };
    if (response.status === 401) for (const f of signedOut) f();
    throw new ApiError(
      response.status,
      problem.code ?? 'error',
      problem.detail ?? problem.title ?? response.statusText,
    );
  }
  return (response.status === 204 ? null : await response.json()) as T;
}

/**
 * Follow a job's Server-Sent Events with the key in a header (EventSource cannot send one):
 * calls `onEvent(type, data)` for each event until the stream ends or `signal` aborts.
 */
export async function follow(
  path: string,
  onEvent: (type: string, data: unknown) => void,
  signal: AbortSignal,
): Promise<void> {
  const response = await fetch(path, { headers: { authorization: `Bearer ${credential.get() ?? ''}` }, signal });
  if (!response.ok || !response.body) return;
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let type = 'message';
      let data = '';
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) type = line.slice(6).trim();
        else if (line.startsWith('data:')) data += line.slice(5).trim();
      }
      if (data) onEvent(type, JSON.parse(data));
    }
  }
}
