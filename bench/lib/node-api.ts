/**
 * A JSON call to a node's HTTP API with its API key: GET without a body, POST with one. Throws
 * on any status other than 2xx, with the node's answer, so a bench never measures a refusal.
 */
export function nodeApi(base: string, apiKey: string) {
  return async function api<T>(path: string, body?: unknown): Promise<T> {
    const res = await fetch(base + path, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  };
}
