/**
 * bench:eta without a node (`npm run bench:eta-replay`): the same families and draws, fed straight
 * into the duration model the Estimator uses (no HTTP, no timers, no machine), four runs in
 * flight as in bench:eta, each promised what the runs finished before it started give. Prints per
 * family the same p90 coverage, median abs p50 error and noise floor as bench:eta, so a figure
 * there can be told apart: the model's own (here), or the time a busy machine adds to each run.
 *
 * BENCH_ETA_FAMILIES=linear,bimodal picks families (the saturated one is not replayed: its
 * promise is the line's, not only the model's). BENCH_ETA_REPLAY_ADDED=dump.json (a BENCH_ETA_DUMP
 * of bench:eta) adds to each run the time the node and workers added to the same run there
 * (actual - intended), so the live figures can be replayed from the model's side.
 */
import { readFileSync } from 'node:fs';
import { modelOf, quantilesOf } from '@inloop/server';
import {
  etaFamilies,
  oracleMedian,
  pct,
  rankMedian as median,
  recoveryAfterShift,
  relError,
} from './lib/eta-families.js';

const WARMUP = 20;
const MEASURED = Number(process.env.BENCH_ETA_JOBS ?? 200);
const WORKERS = 4;
/** Runs the Estimator keeps per type (its default window). */
const WINDOW = 200;

interface Replayed {
  index: number;
  nominal: number;
  intended: number;
  size: number | null;
  p50: number;
  p90: number;
  actual: number;
}

/** Live runs by family, when replaying the machine's added time. */
const live: Record<string, { index: number; intended: number; actual: number }[]> | null = process.env
  .BENCH_ETA_REPLAY_ADDED
  ? JSON.parse(readFileSync(process.env.BENCH_ETA_REPLAY_ADDED, 'utf8'))
  : null;

/**
 * Four workers: a run starts when one frees (at the end of the earliest run in flight), and is
 * promised the p50 and p90 of the model of the runs that finished by then, newest first.
 */
function replay(draws: { ms: number; nominal: number; size: number | null }[], added: (i: number) => number) {
  // A sample carries its end (`at`) as the Estimator's do: runs that overlapped in time are told
  // apart from runs one after another.
  type Sample = { ms: number; size: number | null; at: number };
  const done: { end: number; sample: Sample }[] = [];
  const flight: { end: number; sample: Sample }[] = [];
  const out: Replayed[] = [];
  let now = 0;
  for (let i = 0; i < draws.length; i++) {
    if (flight.length >= WORKERS) {
      flight.sort((a, b) => a.end - b.end);
      const first = flight.shift()!;
      now = first.end;
      done.push(first);
    }
    const d = draws[i]!;
    const history = done
      .slice(-WINDOW)
      .reverse()
      .map((x) => x.sample);
    const sized = d.size !== null && history.filter((s) => s.size !== null).length >= 3;
    const q =
      history.length > 0
        ? quantilesOf(
            modelOf(sized ? history : history.map((s) => ({ ms: s.ms, size: null, at: s.at }))),
            sized ? d.size : null,
          )
        : { p50Ms: 10_000, p90Ms: 20_000 };
    const actual = Math.max(1, Math.round(d.ms + added(i)));
    flight.push({ end: now + actual, sample: { ms: actual, size: d.size, at: now + actual } });
    if (i >= WARMUP)
      out.push({ index: i, nominal: d.nominal, intended: d.ms, size: d.size, p50: q.p50Ms, p90: q.p90Ms, actual });
  }
  return out;
}

const only = process.env.BENCH_ETA_FAMILIES?.split(',');
const rows: string[] = [];
for (const f of etaFamilies(WARMUP, MEASURED)) {
  const draws = Array.from({ length: WARMUP + MEASURED }, (_, i) => {
    const d = f.draw(i);
    return { ms: d.ms, nominal: d.nominal, size: d.size ?? null };
  });
  if (f.burst !== undefined || (only && !only.includes(f.type))) continue;
  const liveRuns = live?.[f.type];
  if (live && !liveRuns) continue;
  const addedByIndex = new Map(liveRuns?.map((run) => [run.index, run.actual - run.intended]));
  // Warm-up runs are not in a dump: they get the median added time of the measured ones.
  const typical = liveRuns ? median([...addedByIndex.values()]) : 0;
  const runs = replay(draws, (i) => addedByIndex.get(i) ?? typical);
  const coverage = runs.filter((run) => run.actual <= run.p90).length / runs.length;
  const error = median(runs.map((run) => relError(run.p50, run.actual)));
  // bench:eta's oracle: the median of each run's duration, its draw and the time added together.
  const added = runs.map((run) => run.actual - run.intended);
  const overhead = median(added);
  const oracles = new Map<number, number>();
  const oracle = (nominal: number) => {
    let m = oracles.get(nominal);
    if (m === undefined) oracles.set(nominal, (m = oracleMedian(f.cdf, nominal, added, overhead)));
    return m;
  };
  const floor = median(runs.map((run) => relError(oracle(run.nominal), run.actual)));
  // The best any one promise for all runs of a size can do: the constant (per size, scaled)
  // whose median abs error over these runs is least (an in-sample bound, below any forecast).
  let best = Infinity;
  for (let c = 0.5; c <= 2; c += 0.0025)
    best = Math.min(best, median(runs.map((run) => relError(c * oracle(run.nominal), run.actual))));
  rows.push(
    `| ${f.name} | ${runs.length} | ${pct(coverage)} | ${pct(error)} | ${pct(floor)} | ${(error / Math.max(floor, 1e-9)).toFixed(2)}x | ${pct(best)} | ${f.type === 'shift' ? recoveryAfterShift(runs) : ''} |`,
  );
}
process.stdout.write(
  `\nETA replay: bench:eta's draws straight into the duration model (${WORKERS} in flight, ${WARMUP} warm-up + ${MEASURED} measured runs per family)` +
    `${live ? `, with the time added to each run in ${process.env.BENCH_ETA_REPLAY_ADDED}` : ', no time added'}\n\n` +
    '| family | runs | p90 coverage (88-95 %) | median abs p50 error | noise floor | vs floor (<= 1.2x) | least error of the oracle times any one factor, in sample (the optimum of this metric: a mode, not a median) | runs to recover after 2x (<= 20) |\n' +
    '| --- | --- | --- | --- | --- | --- | --- | --- |\n' +
    rows.join('\n') +
    '\n',
);
