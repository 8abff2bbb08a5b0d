import type { InloopNode } from '../src/node.js';

/**
 * Run jobs of `type` on `node` that enter the stage `draft` and wait there until `release()` is
 * called, then succeed: a job the console shows running for as long as a test needs.
 */
export function gatedJobs(node: InloopNode, type: string): () => void {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  node.jobs.handle(type, async (_job, ctx) => {
    await ctx.stage('draft', { weight: 1 });
    await gate;
    return { ok: true };
  });
  return () => release();
}
