/** Label value of the series that sums everything beyond a bound. */
export const OTHER = 'other';

/**
 * Keeps the `limit` items of highest weight (ties by key, so the choice is stable) and returns the rest apart,
 * for gauges whose surplus is summed into one `other` series. Pure.
 */
export function splitTopN<T>(items: readonly T[], limit: number, weight: (item: T) => number, key: (item: T) => string): { kept: T[]; rest: T[] } {
  const sorted = [...items].sort((a, b) => weight(b) - weight(a) || key(a).localeCompare(key(b)));
  return { kept: sorted.slice(0, limit), rest: sorted.slice(limit) };
}

/** Running totals of one entity (a process), by sub-series key (`method:GET`, `code:200`, ...). */
export type CounterVector = ReadonlyMap<string, number>;

/** One entity's totals in one collection. */
export interface CounterEntry {
  key: string;
  totals: CounterVector;
  /** Rank for a free slot: the busiest entity gets it. */
  weight: number;
}

/** What a collection exports: the entities with their own series, and the `other` series' totals. */
export interface FoldedCounters {
  /** Entities holding a slot, with the totals counted since they got it. */
  slotted: Array<{ key: string; totals: CounterVector }>;
  /** Totals of everything else (entities without a slot, what slotted ones did before, vanished ones); undefined until needed. */
  other: CounterVector | undefined;
}

/** A {@link createCounterFolder} instance: feed it every collection's entries. */
export interface CounterFolder {
  update(entries: readonly CounterEntry[]): FoldedCounters;
}

function add(into: Map<string, number>, from: CounterVector | undefined): void {
  if (!from) return;
  for (const [k, v] of from) into.set(k, (into.get(k) ?? 0) + v);
}

function decreased(before: CounterVector | undefined, now: CounterVector): boolean {
  if (!before) return false;
  for (const [k, v] of before) if ((now.get(k) ?? 0) < v) return true;
  return false;
}

/**
 * Bounds counter series to `maxSlots` entities plus one `other`, keeping every exported series monotonic (what
 * Prometheus' `rate()` needs). A slot, once given, is kept until the entity vanishes; free slots go to the busiest
 * entities without one, whose series then count from that moment (what they did before stays in `other`, so
 * `other` never goes down). A vanished entity's series goes away; its counts stay in `other`'s running base only
 * for the part `other` already held. An entity whose totals go backwards (pid reuse) is treated as a new one.
 */
export function createCounterFolder(maxSlots: number): CounterFolder {
  if (!Number.isSafeInteger(maxSlots) || maxSlots < 0) throw new TypeError(`maxSlots must be a non-negative integer, got ${maxSlots}`);
  const offsets = new Map<string, CounterVector>();
  const unslotted = new Map<string, CounterVector>();
  const last = new Map<string, CounterVector>();
  const base = new Map<string, number>();
  let otherUsed = false;

  return {
    update(entries) {
      const present = new Map(entries.map((e) => [e.key, e]));
      for (const [key, offset] of offsets) {
        const entry = present.get(key);
        if (!entry) {
          add(base, offset);
          offsets.delete(key);
        } else if (decreased(last.get(key), entry.totals)) {
          add(base, offset);
          offsets.set(key, new Map());
        }
      }
      for (const [key, totals] of unslotted) {
        const entry = present.get(key);
        if (!entry || decreased(totals, entry.totals)) {
          add(base, totals);
          unslotted.delete(key);
        }
      }
      for (const key of last.keys()) if (!present.has(key)) last.delete(key);

      const candidates = entries.filter((e) => !offsets.has(e.key)).sort((a, b) => b.weight - a.weight || a.key.localeCompare(b.key));
      let free = maxSlots - offsets.size;
      for (const entry of candidates) {
        if (free > 0) {
          // What it did while unslotted is already in `other`; keep it there.
          offsets.set(entry.key, unslotted.get(entry.key) ?? new Map());
          unslotted.delete(entry.key);
          free--;
        } else {
          unslotted.set(entry.key, entry.totals);
        }
      }
      for (const entry of entries) last.set(entry.key, entry.totals);

      const slotted: FoldedCounters['slotted'] = [];
      const other = new Map(base);
      for (const entry of entries) {
        const offset = offsets.get(entry.key);
        if (!offset) continue;
        add(other, offset);
        const own = new Map<string, number>();
        for (const [k, v] of entry.totals) own.set(k, Math.max(0, v - (offset.get(k) ?? 0)));
        slotted.push({ key: entry.key, totals: own });
      }
      for (const totals of unslotted.values()) add(other, totals);
      if (other.size > 0) otherUsed = true;
      return { slotted, other: otherUsed ? other : undefined };
    },
  };
}
