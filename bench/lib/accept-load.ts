import { Agent, request } from 'undici';
import { summarize } from './stats.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * `POST /v1/jobs` of `type` at `rate` per second for `seconds`, open loop: requests go out on
 * schedule whether or not earlier ones were answered. Latency is to the `202`. Before it, a
 * 200-job warm-up and `warmupSeconds` at the rate itself, not measured: the client's connection
 * pool grows to what the rate needs (a fresh pool opens hundreds of connections in its first
 * second, and that, not the node, is what a cold run measures) and both sides' code is compiled,
 * as in a service that has been up for a while.
 */
export async function acceptLatency(
  base: string,
  apiKey: string,
  rate: number,
  seconds: number,
  type = 'noop',
  warmupSeconds = 5,
): Promise<{ p50: number; p99: number; max: number; n: number; errors: number; why: string }> {
  // A bounded pool: past 512 outstanding, requests wait here (their latency counts it); a request
  // not answered within 10 s counts as an error rather than stalling the run.
  const dispatcher = new Agent({ connections: 512, pipelining: 1, keepAliveTimeout: 60_000 });
  const headers = { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' };
  const body = JSON.stringify({ type });
  // undici's own `request`, not `fetch`: fetch's WHATWG layers cost the generator about three
  // times the CPU per request, and on a 2-core machine the generator shares a core with Redis.
  const url = base + '/v1/jobs';
  const post = () =>
    request(url, { method: 'POST', headers, body, dispatcher, headersTimeout: 10_000, bodyTimeout: 10_000 });
  for (let i = 0; i < 200; i++) await (await post()).body.arrayBuffer();
  const paced = async (ms: number) => {
    const latencies: number[] = [];
    let errors = 0;
    const why = new Map<string, number>();
    const failed = (reason: string) => {
      errors++;
      why.set(reason, (why.get(reason) ?? 0) + 1);
    };
    const start = performance.now();
    let sent = 0;
    const pending: Promise<void>[] = [];
    while (performance.now() - start < ms) {
      const due = Math.floor(((performance.now() - start) / 1000) * rate);
      while (sent < due) {
        sent++;
        const t0 = performance.now();
        pending.push(
          post().then(
            async (res) => {
              await res.body.arrayBuffer();
              if (res.statusCode === 202) latencies.push(performance.now() - t0);
              else failed(String(res.statusCode));
            },
            (err: Error) => failed(err.name),
          ),
        );
      }
      await sleep(1);
    }
    await Promise.all(pending);
    return { latencies, errors, why };
  };
  await paced(warmupSeconds * 1000);
  const { latencies, errors, why } = await paced(seconds * 1000);
  await dispatcher.close();
  const reasons = [...why].map(([reason, n]) => `${n} x ${reason}`).join(', ');
  return { ...summarize(latencies), errors, why: reasons };
}
