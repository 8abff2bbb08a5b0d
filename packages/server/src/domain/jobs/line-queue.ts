/**
 * The queued jobs of one type in line order, with running sums of their runs, so that a job's
 * place costs the same whether 10 or 100,000 jobs wait: its position is an index, and the jobs
 * far ahead of it are summed by subtracting two prefix sums instead of walked one by one.
 *
 * Jobs join at the end and mostly leave from the front (leases take the oldest first), which
 * costs nothing here; one leaving from the middle (a cancel, a retry's delay letting later jobs
 * by) leaves a hole, and the next positional read closes the holes in one pass.
 */
export class LineQueue<E extends { readonly p50Ms: number; readonly variance: number; readonly since: number }> {
  /** Entries by index; null where one left from the middle. */
  #order: ({ id: string; entry: E } | null)[] = [];
  #head = 0;
  #holes = 0;
  readonly #index = new Map<string, number>();
  /** Sums of p50 and variance of the entries before each index (one more element than #order). */
  #sumP50: number[] = [0];
  #sumVariance: number[] = [0];

  get size(): number {
    return this.#index.size;
  }

  has(id: string): boolean {
    return this.#index.has(id);
  }

  /** Joins the end of the line (leaving first if it was already in it). */
  push(id: string, entry: E): void {
    this.delete(id);
    const i = this.#order.length;
    this.#order.push({ id, entry });
    this.#index.set(id, i);
    this.#sumP50.push(this.#sumP50[i]! + entry.p50Ms);
    this.#sumVariance.push(this.#sumVariance[i]! + entry.variance);
  }

  /** Leaves the line; false when it was not in it. */
  delete(id: string): boolean {
    const i = this.#index.get(id);
    if (i === undefined) return false;
    this.#index.delete(id);
    this.#order[i] = null;
    if (i === this.#head) {
      this.#head++;
      // Holes the head passes are no longer inside the line.
      while (this.#head < this.#order.length && this.#order[this.#head] === null) {
        this.#head++;
        this.#holes--;
      }
    } else this.#holes++;
    if (this.#index.size === 0) this.#reset();
    else if (this.#head > 1024 && this.#head * 2 > this.#order.length) this.#compact();
    return true;
  }

  /** The oldest job in line, or undefined. */
  first(): { id: string; entry: E } | undefined {
    return this.#order[this.#head] ?? undefined;
  }

  /** How many jobs are ahead of `id` (0: it is next), or -1 when it is not in line. */
  ahead(id: string): number {
    if (!this.#index.has(id)) return -1;
    if (this.#holes > 0) this.#compact();
    return this.#index.get(id)! - this.#head;
  }

  /** The first `n` jobs in line, in order. */
  *front(n: number): Generator<E> {
    if (this.#holes > 0) this.#compact();
    const end = Math.min(this.#order.length, this.#head + n);
    for (let i = this.#head; i < end; i++) yield this.#order[i]!.entry;
  }

  /** Sums of p50 and variance over the jobs from position `from` (0: the first) up to `to`, excluded. */
  sums(from: number, to: number): { p50Ms: number; variance: number } {
    if (this.#holes > 0) this.#compact();
    const a = this.#head + from;
    const b = this.#head + to;
    return { p50Ms: this.#sumP50[b]! - this.#sumP50[a]!, variance: this.#sumVariance[b]! - this.#sumVariance[a]! };
  }

  #reset(): void {
    this.#order = [];
    this.#head = 0;
    this.#holes = 0;
    this.#sumP50 = [0];
    this.#sumVariance = [0];
  }

  /** One pass that drops the holes and the front already left, and renumbers the rest. */
  #compact(): void {
    const live = this.#order.filter((x, i) => i >= this.#head && x !== null) as { id: string; entry: E }[];
    this.#reset();
    for (const { id, entry } of live) {
      const i = this.#order.length;
      this.#order.push({ id, entry });
      this.#index.set(id, i);
      this.#sumP50.push(this.#sumP50[i]! + entry.p50Ms);
      this.#sumVariance.push(this.#sumVariance[i]! + entry.variance);
    }
  }
}
