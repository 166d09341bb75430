/**
 * Guest-to-host mapping: the active L1 table (kept in memory) and a cache of L2 tables.
 *
 * L2 tables are loaded on demand; concurrent loads of one table share a promise, so a table is
 * in the cache at most once and in-place updates are never overwritten by a stale load. Tables
 * that were changed stay in the cache until they are written back.
 *
 * Mutating methods must be called with `state.meta` held. The cache is write-back: changed L2
 * tables and L1 entries are only marked dirty, and Qcow2Image.flushMetadata writes them after the
 * refcounts they depend on (refcounts, sync, L2 tables and L1 entries). A new L2 table's contents
 * are written at once (nothing points at them yet). Dirty tables are never evicted. A new L1
 * table is written and synced before the header points at it; growL1 needs a clean cache.
 */
import { BlockError } from '../../util/index.js';
import { decodeL1Entry, decodeL2Entry, encodeL1Entry, type L2Entry } from './entries.js';
import type { Refcounts } from './refcounts.js';
import type { Qcow2State } from './state.js';

const MAX_L2_CACHE_BYTES = 32 * 1024 * 1024;

/** The entry of every cluster without an L2 table (shared, so frozen). */
const UNALLOCATED: L2Entry = Object.freeze({ kind: 'unallocated' });

export class ClusterMap {
  l1: Buffer;
  private readonly cache = new Map<number, Buffer>();
  /** The table entryNow last moved to the LRU end. */
  private lastTouched = 0;
  private readonly loading = new Map<number, Promise<Buffer>>();
  /** L2 tables (by offset) and L1 entries (by index) changed since the last metadata flush. */
  private readonly dirtyTables = new Set<number>();
  private readonly dirtyL1 = new Set<number>();
  private readonly maxTables: number;

  constructor(
    private readonly s: Qcow2State,
    private readonly rc: Refcounts,
    l1: Buffer,
  ) {
    this.l1 = l1;
    this.maxTables = Math.max(16, Math.floor(MAX_L2_CACHE_BYTES / s.clusterSize));
    rc.onFreed = (offset) => this.forget(offset);
  }

  static async load(s: Qcow2State, rc: Refcounts): Promise<ClusterMap> {
    const h = s.header;
    const need = Math.ceil(h.size / (s.clusterSize * s.l2Entries));
    if (h.l1Size < need)
      throw s.markCorrupt(`L1 table has ${h.l1Size} entries, fewer than the ${need} the image size needs`);
    if (h.l1Size > (32 * 1024 * 1024) / 8) throw s.markCorrupt(`L1 table size ${h.l1Size} is too large`);
    if (h.l1Size > 0 && h.l1TableOffset % s.clusterSize !== 0)
      throw s.markCorrupt('L1 table offset is not cluster aligned');
    const bytes = h.l1Size * 8;
    if (h.l1Size > 0 && h.l1TableOffset + bytes > s.file.size)
      throw s.markCorrupt('L1 table is past the end of the file');
    const l1 = Buffer.alloc(Math.ceil(bytes / s.clusterSize) * s.clusterSize);
    if (bytes) await s.file.pread(h.l1TableOffset, l1.subarray(0, bytes));
    const map = new ClusterMap(s, rc, l1);
    for (let c = 0; c < Math.ceil(bytes / s.clusterSize); c++) {
      const off = h.l1TableOffset + c * s.clusterSize;
      if (s.metadataClusters.has(off))
        throw s.markCorrupt(`L1 table overlaps other metadata at 0x${off.toString(16)}`);
      s.metadataClusters.add(off);
    }
    for (let i = 0; i < h.l1Size; i++) {
      const e = decodeL1Entry(l1, i, s.clusterSize);
      if (e.kind === 'invalid') throw s.markCorrupt(e.reason);
      if (e.kind !== 'table') continue;
      if (e.offset + s.clusterSize > s.file.size) {
        throw s.markCorrupt(
          `L2 table at 0x${e.offset.toString(16)} (L1 entry ${i}) is past the end of the file`,
        );
      }
      if (s.metadataClusters.has(e.offset)) {
        throw s.markCorrupt(`L2 table at 0x${e.offset.toString(16)} (L1 entry ${i}) overlaps other metadata`);
      }
      s.metadataClusters.add(e.offset);
    }
    return map;
  }

  get l1Size(): number {
    return this.s.header.l1Size;
  }

  l2Offset(l1Index: number): number {
    if (l1Index >= this.l1Size) return 0;
    const e = decodeL1Entry(this.l1, l1Index, this.s.clusterSize);
    if (e.kind === 'invalid') throw this.s.markCorrupt(e.reason);
    return e.kind === 'table' ? e.offset : 0;
  }

  l1Copied(l1Index: number): boolean {
    const e = decodeL1Entry(this.l1, l1Index, this.s.clusterSize);
    return e.kind === 'table' && e.copied;
  }

  async table(offset: number): Promise<Buffer> {
    const hit = this.cache.get(offset);
    if (hit) {
      this.cache.delete(offset);
      this.cache.set(offset, hit);
      return hit;
    }
    let p = this.loading.get(offset);
    if (!p) {
      p = (async () => {
        const buf = Buffer.alloc(this.s.clusterSize);
        await this.s.file.pread(offset, buf);
        this.evict();
        this.cache.set(offset, buf);
        return buf;
      })();
      this.loading.set(offset, p);
      p.finally(() => this.loading.delete(offset)).catch(() => undefined);
    }
    return p;
  }

  /** True when so many tables are dirty that the next update should flush metadata first. */
  /** Writes the dirty metadata when too much of it piles up (set by the image). */
  onPressure: (() => Promise<void>) | undefined;

  /** A freed cluster's cached table (if it was one) is stale. */
  forget(offset: number): void {
    if (!this.dirtyTables.has(offset)) this.cache.delete(offset);
  }

  get needsFlush(): boolean {
    return this.dirtyTables.size >= this.maxTables / 2;
  }

  get isDirty(): boolean {
    return this.dirtyTables.size > 0 || this.dirtyL1.size > 0;
  }

  /** Writes dirty L2 tables, then dirty L1 entries. The caller syncs the refcounts before. */
  async writeDirty(): Promise<void> {
    for (const off of [...this.dirtyTables]) {
      const t = this.cache.get(off);
      if (t) await this.s.file.pwrite(off, t);
      this.dirtyTables.delete(off);
    }
    for (const l1i of [...this.dirtyL1].sort((a, b) => a - b)) {
      await this.writeL1Entry(l1i);
      this.dirtyL1.delete(l1i);
    }
  }

  private evict(): void {
    if (this.cache.size < this.maxTables) return;
    for (const k of this.cache.keys()) {
      if (!this.dirtyTables.has(k)) {
        this.cache.delete(k);
        return;
      }
    }
  }

  /** The classified L2 entry for guest cluster `gc`. */
  async entry(gc: number): Promise<L2Entry> {
    const now = this.entryNow(gc);
    if (now) return now;
    const t = await this.table(this.l2Offset(Math.floor(gc / this.s.l2Entries)));
    return decodeL2Entry(t, gc % this.s.l2Entries, this.s.clusterBits, this.s.v3, this.s.extL2);
  }

  /**
   * The entry for guest cluster `gc` when it can be had without I/O (its L2 table is cached, or
   * it has none), else undefined. Scans over many clusters use it to skip a promise per cluster:
   * `map.entryNow(gc) ?? (await map.entry(gc))`.
   */
  entryNow(gc: number): L2Entry | undefined {
    const l1i = Math.floor(gc / this.s.l2Entries);
    const off = this.l2Offset(l1i);
    if (!off) return UNALLOCATED;
    const t = this.cache.get(off);
    if (!t) return undefined;
    if (off !== this.lastTouched) {
      // LRU order, refreshed once per table rather than once per entry.
      this.cache.delete(off);
      this.cache.set(off, t);
      this.lastTouched = off;
    }
    return decodeL2Entry(t, gc % this.s.l2Entries, this.s.clusterBits, this.s.v3, this.s.extL2);
  }

  /**
   * The end of the run that guest cluster `gc` starts (its entry `e`, normal or unallocated): the
   * first cluster after it, at most `last` + 1, that does not continue the run. A normal cluster
   * is continued by the next host cluster, an unallocated one by another unallocated one. Readers
   * use it to cover a run with one host read or one extent. A number when every table the scan
   * needs is cached (the common case, which then costs the per-request path no await); a promise
   * when one has to be loaded.
   */
  runEnd(e: L2Entry, gc: number, last: number): number | Promise<number> {
    const g = this.cachedRunEnd(e, gc, gc + 1, last);
    // Stopped past the range, or at a cached entry that ends the run; else at an uncached table.
    if (g > last || this.entryNow(g) !== undefined) return g;
    return this.loadingRunEnd(e, gc, g, last);
  }

  /** `runEnd` from cluster `g` on, whose table is not cached: loads the tables as it goes. */
  private async loadingRunEnd(e: L2Entry, gc: number, g: number, last: number): Promise<number> {
    for (;;) {
      if (!continuesRun(e, gc, await this.entry(g), g, this.s.clusterSize)) return g;
      g = this.cachedRunEnd(e, gc, g + 1, last);
      if (g > last || this.entryNow(g) !== undefined) return g;
    }
  }

  /**
   * `runEnd`'s scan from cluster `g` on, over cached tables only: the first cluster that does not
   * continue the run or whose table is not cached. A synchronous loop of its own, so that the
   * optimising compiler sees one small loop. Written inline in the async readers, the scan made
   * them take long to compile (`--trace-opt`, one convert): blockStatus 64-66 ms, twice (after a
   * deoptimisation), and readGuest 25-42 ms, once or twice.
   */
  private cachedRunEnd(e: L2Entry, gc: number, g: number, last: number): number {
    const cs = this.s.clusterSize;
    for (; g <= last; g++) {
      const e2 = this.entryNow(g);
      if (e2 === undefined || !continuesRun(e, gc, e2, g, cs)) break;
    }
    return g;
  }

  /**
   * Updates the L2 entries of guest clusters [gc, gc + count) (all under one L1 entry or more):
   * `fill(table, index, gc)` encodes each new entry. Creates L2 tables as needed. Writes back the
   * changed bytes of each table.
   */
  async update(
    gc: number,
    count: number,
    fill: (table: Buffer, index: number, gc: number) => void,
  ): Promise<void> {
    if (this.needsFlush && this.onPressure) await this.onPressure();
    let g = gc;
    const end = gc + count;
    while (g < end) {
      const l1i = Math.floor(g / this.s.l2Entries);
      const stop = Math.min(end, (l1i + 1) * this.s.l2Entries);
      const off = this.l2Offset(l1i);
      if (!off) {
        await this.createTable(l1i, g, stop, fill);
      } else {
        if (!this.l1Copied(l1i)) {
          const refcount = await this.rc.get(off / this.s.clusterSize);
          if (refcount > 1) {
            // Shared with a snapshot: copy the table, change the copy, point the L1 entry at it.
            const copy = Buffer.from(await this.table(off));
            for (let x = g; x < stop; x++) fill(copy, x % this.s.l2Entries, x);
            await this.installTable(l1i, copy);
            this.rc.deferFree(off / this.s.clusterSize, 1);
            g = stop;
            continue;
          }
          // Refcount 1: the flag was just stale (e.g. after a snapshot was deleted).
          encodeL1Entry(this.l1, l1i, off, true);
          this.dirtyL1.add(l1i);
        }
        const t = await this.table(off);
        for (let x = g; x < stop; x++) fill(t, x % this.s.l2Entries, x);
        this.dirtyTables.add(off);
      }
      g = stop;
    }
  }

  private async createTable(
    l1i: number,
    g: number,
    stop: number,
    fill: (table: Buffer, index: number, gc: number) => void,
  ): Promise<void> {
    const t = Buffer.alloc(this.s.clusterSize);
    for (let x = g; x < stop; x++) fill(t, x % this.s.l2Entries, x);
    await this.installTable(l1i, t);
  }

  /**
   * Writes `t` as a new L2 table and points L1 entry `l1i` at it in memory; the L1 entry reaches
   * the disk at the next metadata flush, after the table's refcount and a sync.
   */
  private async installTable(l1i: number, t: Buffer): Promise<void> {
    const off = await this.rc.allocate(1);
    await this.s.file.pwrite(off, t);
    this.s.metadataClusters.add(off);
    this.evict();
    this.cache.set(off, t);
    encodeL1Entry(this.l1, l1i, off, true);
    this.dirtyL1.add(l1i);
  }

  private async writeL1Entry(l1i: number): Promise<void> {
    await this.s.file.pwrite(this.s.header.l1TableOffset + l1i * 8, this.l1.subarray(l1i * 8, l1i * 8 + 8));
  }

  /** Forgets cached L2 tables (after the active L1 table was replaced). */
  clearCache(): void {
    for (const k of [...this.cache.keys()]) if (!this.dirtyTables.has(k)) this.cache.delete(k);
  }

  /** Frees the L2 table of L1 entry `l1i` (its entries must already be released). */
  async dropTable(l1i: number): Promise<void> {
    const off = this.l2Offset(l1i);
    if (!off) return;
    encodeL1Entry(this.l1, l1i, 0, false);
    this.dirtyL1.add(l1i);
    this.rc.deferFree(off / this.s.clusterSize, 1);
  }

  /** Grows the L1 table to at least `entries` entries: a new table, synced, then the header. */
  async growL1(entries: number): Promise<void> {
    const s = this.s;
    if (entries <= this.l1Size) return;
    if (entries > (32 * 1024 * 1024) / 8)
      throw new BlockError('INVALID', 'image too large for its cluster size (L1 table limit)');
    const clusters = Math.ceil((entries * 8) / s.clusterSize);
    const newL1 = Buffer.alloc(clusters * s.clusterSize);
    this.l1.copy(newL1, 0, 0, this.l1Size * 8);
    const off = await this.rc.allocate(clusters);
    await s.file.pwrite(off, newL1.subarray(0, entries * 8));
    await s.file.flush();
    const oldOff = s.header.l1TableOffset;
    const oldClusters = Math.ceil((this.l1Size * 8) / s.clusterSize);
    s.header.l1TableOffset = off;
    s.header.l1Size = entries;
    await s.writeHeaderFields();
    this.l1 = newL1;
    for (let c = 0; c < clusters; c++) s.metadataClusters.add(off + c * s.clusterSize);
    for (let c = 0; c < oldClusters; c++) s.metadataClusters.delete(oldOff + c * s.clusterSize);
    if (oldClusters) await this.rc.adjust(oldOff / s.clusterSize, oldClusters, -1);
  }
}

/**
 * Whether guest cluster `g` (entry `e2`) continues the run that cluster `gc` (entry `e`) starts:
 * the next host cluster after a normal one, or unallocated after an unallocated one.
 */
function continuesRun(e: L2Entry, gc: number, e2: L2Entry, g: number, cs: number): boolean {
  if (e.kind === 'normal') return e2.kind === 'normal' && e2.hostOffset === e.hostOffset + (g - gc) * cs;
  return e.kind === 'unallocated' && e2.kind === 'unallocated';
}
