/**
 * Refcount management: the in-memory refcount table, a cache of refcount blocks, cluster
 * allocation and freeing, and growth of the refcount table.
 *
 * Every mutating method must be called with `state.meta` held.
 *
 * Crash ordering (DESIGN.md): a refcount increment is written before anything that points at the
 * cluster; a new refcount block is written and synced before the table entry that points at it;
 * a new refcount table is written and synced before the header switches to it. With lazy refcounts
 * (compatible bit 0) increments stay in memory until flush, and the header's dirty bit, set and
 * synced before the first deferred update, tells the next opener to rebuild them.
 */
import { BlockError, isZero } from '../../util/index.js';
import {
  decodeRefcountTableEntry,
  encodeRefcountTableEntry,
  getRefcount,
  maxRefcount,
  refcountByteRange,
  refcountEntries,
  setRefcount,
} from './refcount-block.js';
import type { Qcow2State } from './state.js';

const MAX_CACHED_BLOCKS = 1024;
/** Refcount table entries checked for zero at once when the table is loaded. */
const EMPTY_SCAN = 512;

export class Refcounts {
  private table: Buffer;
  private readonly blocks = new Map<number, Buffer>();
  private readonly dirtyBlocks = new Set<number>();
  /** The first cluster index that may be free. */
  private freeHint = 0;
  /** How many times a cluster's refcount has dropped to zero (invalidates remembered free space). */
  frees = 0;
  /** One past the highest cluster index ever handed out or known in use. */
  private highWater = 0;
  readonly entriesPerBlock: number;
  /** Deferred refcount writes (lazy refcounts): a hook that marks the image dirty first. */
  lazy = false;
  beforeFirstLazyUpdate: (() => Promise<void>) | undefined;

  constructor(
    private readonly s: Qcow2State,
    table: Buffer,
  ) {
    this.table = table;
    this.entriesPerBlock = refcountEntries(s.clusterSize, s.refcountBits);
    this.highWater = Math.ceil(s.file.size / s.clusterSize);
  }

  static async load(s: Qcow2State): Promise<Refcounts> {
    const h = s.header;
    const len = h.refcountTableClusters * s.clusterSize;
    if (h.refcountTableClusters === 0 || len > 64 * 1024 * 1024) {
      throw s.markCorrupt(`refcount table size ${h.refcountTableClusters} clusters is invalid`);
    }
    if (h.refcountTableOffset + len > s.file.size)
      throw s.markCorrupt('refcount table is past the end of the file');
    const table = Buffer.alloc(len);
    await s.file.pread(h.refcountTableOffset, table);
    const rc = new Refcounts(s, table);
    for (let i = 0; i < rc.tableEntries; i++) {
      // Most of a table is unused: skip empty stretches of it without decoding them.
      if (i % EMPTY_SCAN === 0 && isZero(table.subarray(i * 8, (i + EMPTY_SCAN) * 8))) {
        i += EMPTY_SCAN - 1;
        continue;
      }
      const off = rc.blockOffset(i);
      if (!off) continue;
      if (off + s.clusterSize > s.file.size)
        throw s.markCorrupt(`refcount block ${i} is past the end of the file`);
      s.metadataClusters.add(off);
    }
    return rc;
  }

  get tableEntries(): number {
    return this.table.length / 8;
  }

  /** The refcount table, for check and tests. */
  get tableBuffer(): Buffer {
    return this.table;
  }

  blockOffset(index: number): number {
    if (index >= this.tableEntries) return 0;
    try {
      return decodeRefcountTableEntry(this.table, index, this.s.clusterSize);
    } catch (err) {
      throw this.s.markCorrupt((err as Error).message);
    }
  }

  private async loadBlock(offset: number): Promise<Buffer> {
    let b = this.blocks.get(offset);
    if (b) return b;
    b = Buffer.alloc(this.s.clusterSize);
    await this.s.file.pread(offset, b);
    const again = this.blocks.get(offset);
    if (again) return again;
    if (this.blocks.size >= MAX_CACHED_BLOCKS) {
      for (const k of this.blocks.keys()) {
        if (!this.dirtyBlocks.has(k)) {
          this.blocks.delete(k);
          break;
        }
      }
    }
    this.blocks.set(offset, b);
    return b;
  }

  /** The refcount of host cluster `index` (0 when no block covers it). */
  async get(index: number): Promise<number> {
    const blockOff = this.blockOffset(Math.floor(index / this.entriesPerBlock));
    if (!blockOff) return 0;
    const block = await this.loadBlock(blockOff);
    return getRefcount(block, index % this.entriesPerBlock, this.s.refcountBits);
  }

  /**
   * Sets refcounts for clusters [first, first + count) to `value(i)`, creating refcount blocks
   * as needed, and writes each touched block's changed bytes once.
   */
  async setRange(
    first: number,
    count: number,
    value: (index: number, old: number) => number,
    avoid: (cluster: number) => boolean = () => false,
  ): Promise<void> {
    let i = first;
    const end = first + count;
    while (i < end) {
      const k = Math.floor(i / this.entriesPerBlock);
      let blockOff = this.blockOffset(k);
      if (!blockOff) {
        await this.createBlock(k, avoid);
        blockOff = this.blockOffset(k);
      }
      const block = await this.loadBlock(blockOff);
      const stop = Math.min(end, (k + 1) * this.entriesPerBlock);
      let lo = Infinity;
      let hi = -Infinity;
      for (let j = i; j < stop; j++) {
        const idx = j % this.entriesPerBlock;
        const old = getRefcount(block, idx, this.s.refcountBits);
        const v = value(j, old);
        if (v === old) continue;
        if (v < 0) throw this.s.markCorrupt(`refcount of cluster ${j} would drop below zero`);
        if (v > maxRefcount(this.s.refcountBits)) {
          throw new BlockError(
            'NO_SPACE',
            `refcount of cluster ${j} would overflow ${this.s.refcountBits} bits`,
          );
        }
        setRefcount(block, idx, this.s.refcountBits, v);
        const [a, b] = refcountByteRange(idx, this.s.refcountBits);
        lo = Math.min(lo, a);
        hi = Math.max(hi, b);
        if (v === 0) {
          this.frees++;
          if (j < this.freeHint) this.freeHint = j;
        }
        if (v > 0 && j >= this.highWater) this.highWater = j + 1;
      }
      if (lo < hi) await this.writeBlockBytes(blockOff, block, lo, hi);
      i = stop;
    }
  }

  /** Refcount changes are written back at flush (write-back cache); the block is marked dirty. */
  private async writeBlockBytes(blockOff: number, _block: Buffer, _lo: number, _hi: number): Promise<void> {
    if (this.lazy && this.dirtyBlocks.size === 0 && this.beforeFirstLazyUpdate)
      await this.beforeFirstLazyUpdate();
    this.dirtyBlocks.add(blockOff);
  }

  /** Writes deferred (lazy) refcount blocks. */
  async writeDirty(): Promise<void> {
    for (const off of [...this.dirtyBlocks]) {
      const b = this.blocks.get(off);
      if (b) await this.s.file.pwrite(off, b);
      this.dirtyBlocks.delete(off);
    }
  }

  get hasDirty(): boolean {
    return this.dirtyBlocks.size > 0;
  }

  /**
   * Frees whose refcount decrement must wait until the metadata change that dropped the
   * reference is on disk (see Qcow2Image.flushMetadata). Until then the clusters stay allocated,
   * so they cannot be handed out again and overwritten while the old reference may survive a crash.
   */
  private readonly pendingFrees: Array<{ cluster: number; count: number; punch: boolean }> = [];

  /** Told of every cluster whose refcount drops to zero through a deferred free. */
  onFreed: ((offset: number) => void) | undefined;

  deferFree(cluster: number, count: number, punch = false): void {
    this.pendingFrees.push({ cluster, count, punch });
  }

  get hasPendingFrees(): boolean {
    return this.pendingFrees.length > 0;
  }

  /** Applies deferred frees (after the references are gone on disk), punching freed clusters. */
  async applyPendingFrees(): Promise<void> {
    const frees = this.pendingFrees.splice(0);
    for (const f of frees) {
      await this.adjust(f.cluster, f.count, -1);
      for (let c = f.cluster; c < f.cluster + f.count; c++) {
        if ((await this.get(c)) !== 0) continue;
        const off = c * this.s.clusterSize;
        this.s.metadataClusters.delete(off);
        this.onFreed?.(off);
        // A cluster written only in part (extended L2 subclusters) may end past the end of the
        // file: punch only what exists.
        const len = Math.min(this.s.clusterSize, this.s.file.size - off);
        if (f.punch && len > 0) await this.s.file.discard(off, len);
      }
    }
  }

  /** Adds `delta` to the refcount of each cluster in [first, first+count). */
  async adjust(first: number, count: number, delta: number): Promise<void> {
    await this.setRange(first, count, (_i, old) => old + delta);
  }

  /**
   * Allocates `count` contiguous free clusters with refcount 1 and returns the host offset of the
   * first. Clusters in `avoid` (cluster indexes) are not handed out.
   */
  async allocate(count: number, avoid: (cluster: number) => boolean = () => false): Promise<number> {
    if (count <= 0) throw new BlockError('INVALID', 'allocation of zero clusters');
    const start = await this.findFreeRun(count, avoid);
    // Every refcount block for the run must exist before the refcounts are set. New blocks are
    // placed outside the run (in their own range when there is room, elsewhere otherwise).
    const inRunOrAvoided = (c: number): boolean => (c >= start && c < start + count) || avoid(c);
    const lastBlock = Math.floor((start + count - 1) / this.entriesPerBlock);
    for (let k = Math.floor(start / this.entriesPerBlock); k <= lastBlock; k++) {
      if (!this.blockOffset(k)) await this.createBlock(k, inRunOrAvoided);
    }
    // The caller writes the clusters, which extends the file. A refcount past the end of the
    // file (after a crash in between) is harmless: qemu-img check ignores it, and it only
    // becomes a leak once the file grows over it.
    await this.setRange(start, count, () => 1);
    this.freeHint = start + count;
    return start * this.s.clusterSize;
  }

  private async findFreeRun(count: number, avoid: (cluster: number) => boolean): Promise<number> {
    let runStart = Math.max(this.freeHint, 1);
    let runLen = 0;
    for (let i = runStart; ; i++) {
      // Past every block the table knows and past the file: all free.
      const k = Math.floor(i / this.entriesPerBlock);
      let free: boolean;
      if (!this.blockOffset(k) && i * this.s.clusterSize >= this.s.file.size && i >= this.highWater) {
        free = !avoid(i);
      } else {
        free = (await this.get(i)) === 0 && !this.s.metadataClusters.has(i * this.s.clusterSize) && !avoid(i);
      }
      if (free) {
        if (runLen === 0) runStart = i;
        runLen++;
        if (runLen === count) return runStart;
      } else {
        runLen = 0;
        if (i === this.freeHint) this.freeHint = i + 1;
      }
    }
  }

  /** Creates refcount block `k`, placed on a free cluster of its own range (self-describing). */
  private async createBlock(k: number, avoid: (cluster: number) => boolean): Promise<void> {
    if (k >= this.tableEntries) {
      await this.growTable(k + 1, avoid);
      if (this.blockOffset(k)) return;
    }
    const first = k * this.entriesPerBlock;
    let c = first;
    while (
      c < first + this.entriesPerBlock &&
      (c === 0 || avoid(c) || this.s.metadataClusters.has(c * this.s.clusterSize))
    )
      c++;
    const block = Buffer.alloc(this.s.clusterSize);
    let off: number;
    if (c < first + this.entriesPerBlock) {
      // Self-describing: the block lives in the range it describes.
      setRefcount(block, c - first, this.s.refcountBits, 1);
      off = c * this.s.clusterSize;
    } else {
      // The whole range is taken (a long run is being allocated): put the block elsewhere; its
      // own refcount lives in the block of wherever it lands.
      off = await this.allocate(1, avoid);
      c = off / this.s.clusterSize;
    }
    await this.s.file.pwrite(off, block);
    await this.s.file.flush();
    encodeRefcountTableEntry(this.table, k, off);
    await this.s.file.pwrite(
      this.s.header.refcountTableOffset + k * 8,
      this.table.subarray(k * 8, k * 8 + 8),
    );
    this.blocks.set(off, block);
    this.s.metadataClusters.add(off);
    if (c >= this.highWater) this.highWater = c + 1;
  }

  /**
   * Replaces the refcount table with a larger one placed past everything in use, together with
   * the refcount blocks that describe its own clusters. New structures are written and synced
   * before the header points at them; the old table is freed afterwards.
   */
  private async growTable(minEntries: number, avoid: (cluster: number) => boolean): Promise<void> {
    const s = this.s;
    const cs = s.clusterSize;
    const E = this.entriesPerBlock;
    const oldEntries = this.tableEntries;
    const newEntries = Math.max(minEntries, oldEntries * 2);
    const tableClusters = Math.ceil((newEntries * 8) / cs);
    let p = Math.max(Math.ceil(s.file.size / cs), this.highWater);
    while (avoid(p)) p++;
    // Blocks needed for [p, p + tableClusters + nb): iterate until the count is stable.
    let nb = 0;
    let needed: number[] = [];
    for (;;) {
      needed = [];
      const last = p + tableClusters + nb - 1;
      for (let k = Math.floor(p / E); k <= Math.floor(last / E); k++)
        if (!this.blockOffset(k)) needed.push(k);
      if (needed.length === nb) break;
      nb = needed.length;
    }
    if (Math.max(...needed, 0) >= newEntries) return this.growTable(Math.max(...needed) + 1, avoid);
    const newTable = Buffer.alloc(tableClusters * cs);
    this.table.copy(newTable);
    const used = new Set<number>();
    for (let c = p; c < p + tableClusters + nb; c++) used.add(c);
    // Write the new blocks: each describes the new clusters in its range.
    for (let j = 0; j < needed.length; j++) {
      const k = needed[j]!;
      const off = (p + tableClusters + j) * cs;
      const block = Buffer.alloc(cs);
      for (const c of used) if (Math.floor(c / E) === k) setRefcount(block, c % E, s.refcountBits, 1);
      await s.file.pwrite(off, block);
      encodeRefcountTableEntry(newTable, k, off);
      this.blocks.set(off, block);
      s.metadataClusters.add(off);
    }
    const tableOff = p * cs;
    await s.file.pwrite(tableOff, newTable);
    await s.file.flush();
    // Clusters of the new structures that fall in blocks that already existed.
    const oldOffset = s.header.refcountTableOffset;
    const oldClusters = s.header.refcountTableClusters;
    this.table = newTable;
    for (const c of used) {
      if (!needed.includes(Math.floor(c / E))) await this.setRange(c, 1, () => 1);
    }
    await this.writeDirty();
    await s.file.flush();
    s.header.refcountTableOffset = tableOff;
    s.header.refcountTableClusters = tableClusters;
    await s.writeHeaderFields();
    for (let c = 0; c < tableClusters; c++) s.metadataClusters.add(tableOff + c * cs);
    for (let c = 0; c < oldClusters; c++) s.metadataClusters.delete(oldOffset + c * cs);
    this.highWater = Math.max(this.highWater, p + tableClusters + nb);
    await this.adjust(oldOffset / cs, oldClusters, -1);
  }

  /** How many clusters of the host file have a non-zero refcount. */
  async countInUse(): Promise<number> {
    const n = Math.ceil(this.s.file.size / this.s.clusterSize);
    let used = 0;
    for (let k = 0; k * this.entriesPerBlock < n && k < this.tableEntries; k++) {
      const off = this.blockOffset(k);
      if (!off) continue;
      const block = await this.loadBlock(off);
      const stop = Math.min(this.entriesPerBlock, n - k * this.entriesPerBlock);
      for (let i = 0; i < stop; i++) if (getRefcount(block, i, this.s.refcountBits) > 0) used++;
    }
    return used;
  }

  /** Drops cached blocks (after an external rewrite, e.g. repair). */
  invalidate(): void {
    this.blocks.clear();
    this.dirtyBlocks.clear();
    this.freeHint = 0;
  }
}
