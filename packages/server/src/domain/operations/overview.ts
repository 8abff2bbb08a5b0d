import type {
  ConsoleActivity,
  ConsoleActivityPoint,
  ConsoleBudget,
  ConsoleNode,
  Histo,
  PresenceActivity,
  TopicActivity,
} from '@inloop/protocol';
import type { NodeReport } from './activity.js';

/** Histograms with the same bounds, added bucket by bucket (every node builds them alike). */
function addHistos(hs: Histo[]): Histo {
  const first = hs[0] ?? { le: [], counts: [0], count: 0, sum: 0 };
  const out: Histo = { le: [...first.le], counts: first.counts.map(() => 0), count: 0, sum: 0 };
  for (const h of hs) {
    if (h.le.length !== out.le.length) continue;
    h.counts.forEach((c, i) => (out.counts[i]! += c));
    out.count += h.count;
    out.sum += h.sum;
  }
  return out;
}

/** The interactivity budget over every node: silences per watcher, gaps, first-event latency. */
export function budgetOf(reports: NodeReport[]): ConsoleBudget {
  return {
    cadenceMs: reports[0]?.cadenceMs ?? 0,
    nodes: reports.length,
    longestSilence: addHistos(reports.map((r) => r.budget.longestSilence)),
    gaps: addHistos(reports.map((r) => r.budget.gaps)),
    firstEvent: addHistos(reports.map((r) => r.budget.firstEvent)),
  };
}

const addCounts = (into: Record<string, number>, from: Record<string, number>): void => {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
};

/** Topics and people over every node: series summed per interval, topics merged, presence as seen. */
export function activityOf(reports: NodeReport[], sampleMs: number): ConsoleActivity {
  const byAt = new Map<number, ConsoleActivityPoint>();
  const connections: Record<string, number> = {};
  let subscriptions = 0;
  const topics = new Map<string, TopicActivity>();
  const presence = new Map<string, PresenceActivity>();
  for (const r of reports) {
    addCounts(connections, r.connections);
    subscriptions += r.subscriptions;
    for (const p of r.series) {
      const s = byAt.get(p.at) ?? {
        at: p.at,
        connections: {},
        subscriptions: 0,
        publications: 0,
        slowConsumerDrops: 0,
        rateLimited: 0,
      };
      addCounts(s.connections, p.connections);
      s.subscriptions += p.subscriptions;
      s.publications += p.publications;
      s.slowConsumerDrops += p.slowConsumerDrops;
      s.rateLimited += p.rateLimited;
      byAt.set(p.at, s);
    }
    for (const t of r.topics) {
      const m = topics.get(t.topic) ?? { topic: t.topic, publications: 0, subscribers: 0 };
      m.publications += t.publications;
      m.subscribers += t.subscribers;
      topics.set(t.topic, m);
    }
    // Occupancy is already merged across nodes by each node's presence: take the largest seen.
    for (const p of r.presence) {
      const m = presence.get(p.topic);
      if (!m || p.members > m.members) presence.set(p.topic, p);
    }
  }
  return {
    nodes: reports.length,
    sampleMs,
    connections,
    subscriptions,
    series: [...byAt.values()].sort((a, b) => a.at - b.at),
    topics: [...topics.values()]
      .sort((a, b) => b.publications - a.publications || b.subscribers - a.subscribers)
      .slice(0, 20),
    presence: [...presence.values()].sort((a, b) => b.members - a.members).slice(0, 20),
  };
}

/**
 * The nodes with their health. A node whose last report is older than two report intervals (and
 * a second) is `reporting: false` (killed, hung or cut off from the backend) until it drops out.
 */
export function nodesOf(reports: NodeReport[], sampleMs: number, now = Date.now()): ConsoleNode[] {
  return reports.map((r) => ({
    node: r.node,
    startedAt: r.startedAt,
    at: r.at,
    reportAgeMs: Math.max(0, now - r.at),
    reporting: now - r.at <= 2 * sampleMs + 1000,
    ready: r.ready,
    connections: r.connections,
    subscriptions: r.subscriptions,
    rssBytes: r.rssBytes,
    loadAverage: r.loadAverage,
  }));
}
