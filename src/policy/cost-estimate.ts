/**
 * An estimate of what a call costs rtorrent, in cells (see cost.ts): a sum of terms, each a number
 * of cells times the sizes of the lists it runs over, which only rtorrent knows.
 */

/** A list whose length multiplies a cost: torrents in a view, or the most files (trackers, peers, pieces) of one torrent. */
export type FanOut = 'torrents' | 'files' | 'trackers' | 'peers' | 'chunks';
export type FanOutSizes = Readonly<Record<FanOut, number>>;

interface Term {
  readonly factors: readonly FanOut[];
  cells: number;
}

/** A sum of terms, each a number of cells times the sizes of zero or more lists. */
export class CostEstimate {
  readonly #terms = new Map<string, Term>();

  add(factors: readonly FanOut[], cells: number): void {
    const sorted = factors.length < 2 ? factors : [...factors].sort();
    const key = sorted.join('*');
    const term = this.#terms.get(key);
    if (term === undefined) this.#terms.set(key, { factors: sorted, cells });
    else term.cells += cells;
  }

  /** Adds every term of `other`. */
  addAll(other: CostEstimate): void {
    for (const term of other.#terms.values()) this.add(term.factors, term.cells);
  }

  /** Keeps, per term, the larger of this and `other`: an upper bound of both. */
  raiseTo(other: CostEstimate): void {
    for (const [key, term] of other.#terms) {
      const mine = this.#terms.get(key);
      if (mine === undefined) this.#terms.set(key, { factors: term.factors, cells: term.cells });
      else mine.cells = Math.max(mine.cells, term.cells);
    }
  }

  /** Whether the lists' sizes are needed to know the cost. */
  get needsSizes(): boolean {
    for (const term of this.#terms.values()) if (term.factors.length > 0) return true;
    return false;
  }

  cells(sizes?: FanOutSizes): number {
    let total = 0;
    for (const term of this.#terms.values()) {
      let product = term.cells;
      for (const factor of term.factors) product *= sizes === undefined ? 1 : sizes[factor];
      total += product;
    }
    return Math.ceil(total);
  }

  /** "38 per torrent (× 1200 torrents) + 2", for refusals and logs. */
  describe(sizes?: FanOutSizes): string {
    const parts: string[] = [];
    for (const term of this.#terms.values()) {
      const cells = Number(term.cells.toFixed(3));
      if (term.factors.length === 0) {
        parts.push(String(cells));
        continue;
      }
      const per = term.factors.map((factor) => (factor === 'torrents' ? 'torrent' : factor.replace(/s$/, ''))).join(' per ');
      const times = sizes === undefined ? '' : ` (× ${term.factors.map((factor) => `${sizes[factor]} ${factor}`).join(' × ')})`;
      parts.push(`${cells} per ${per}${times}`);
    }
    return parts.join(' + ') || '0';
  }
}

