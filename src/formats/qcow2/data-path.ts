/**
 * The qcow2 data path: reads, writes (in place or allocating, with copy-on-write of partial
 * clusters from the backing chain), discard and write zeroes; block status
 * lives in block-status.ts and shares the guest range lock.
 *
 * Concurrency (STYLE.md convention 8): `guest` is a range lock over guest bytes, rounded out to
 * whole clusters. Reads, block status and in-place writes to clusters that are already allocated
 * take it shared; anything that changes a cluster's mapping (allocating writes, discard, write
 * zeroes) takes it exclusive, and resize/close take the whole device exclusive (drain). Metadata
 * mutations are additionally serialised by `state.meta`. Data of an allocating write is written
 * to its new clusters before the L2 entry points at them, so a concurrent reader of another
 * cluster never sees a half-built mapping.
 */
import {
  checkRange,
  pageAlignedBuffer,
  type Extent,
  type WriteOptions,
  type ZeroOptions,
} from '../../block/index.js';
import { alignDown, alignUp, BlockError, RangeLock } from '../../util/index.js';
import type { Image } from '../image.js';
import type { ClusterMap } from './cluster-map.js';
import {
  ALL_SUBCLUSTERS,
  compressedClusters,
  encodeCompressedL2Entry,
  encodeExtL2Entry,
  encodeL2Entry,
  type L2Entry,
  subclusterRuns,
} from './entries.js';
import { BlockStatusReader } from './block-status.js';
import { compressCluster, decompressCluster, type CompressionType } from './compression.js';
import type { Refcounts } from './refcounts.js';
import type { Qcow2State } from './state.js';

/** Clusters allocated together at most by one write (bounds the bounce buffer). */
export const MAX_RUN_BYTES = 8 * 1024 * 1024;
export const WHOLE_DEVICE = Number.MAX_SAFE_INTEGER;

export class DataPath {
  readonly guest = new RangeLock();
  private readonly status: BlockStatusReader;

  constructor(
    private readonly s: Qcow2State,
    private readonly rc: Refcounts,
    private readonly map: ClusterMap,
    private readonly backingOf: () => Image | undefined,
    private readonly flush: () => Promise<void>,
  ) {
    this.status = new BlockStatusReader(s, rc, map, backingOf, this.guest);
  }

  private get backing(): Image | undefined {
    return this.backingOf();
  }

  get size(): number {
    return this.s.header.size;
  }

  // ---- reads -------------------------------------------------------------------------------

  async read(offset: number, buf: Buffer): Promise<void> {
    checkRange(this, offset, buf.length);
    if (buf.length === 0) return;
    const cs = this.s.clusterSize;
    const release = await this.guest.acquire(alignDown(offset, cs), alignUp(offset + buf.length, cs), false);
    try {
      await this.readGuest(offset, buf);
    } finally {
      release();
    }
  }

  /** Reads guest bytes through the current mapping. The caller holds the guest range. */
  async readGuest(offset: number, buf: Buffer): Promise<void> {
    const cs = this.s.clusterSize;
    const end = offset + buf.length;
    const last = Math.floor((end - 1) / cs); // the last cluster in range
    let done = 0;
    while (done < buf.length) {
      const pos = offset + done;
      const gc = Math.floor(pos / cs);
      const within = pos - gc * cs;
      const e = this.map.entryNow(gc) ?? (await this.map.entry(gc));
      let n = Math.min(cs - within, buf.length - done);
      switch (e.kind) {
        case 'normal': {
          // Coalesce clusters that are contiguous on the host too.
          const r = this.map.runEnd(e, gc, last);
          n = Math.min(end, (typeof r === 'number' ? r : await r) * cs) - pos;
          await this.s.file.pread(e.hostOffset + within, buf.subarray(done, done + n));
          break;
        }
        case 'zero':
          buf.fill(0, done, done + n);
          break;
        case 'unallocated': {
          const r = this.map.runEnd(e, gc, last);
          n = Math.min(end, (typeof r === 'number' ? r : await r) * cs) - pos;
          await this.readBacking(pos, buf.subarray(done, done + n));
          break;
        }
        case 'compressed': {
          const data = await this.readCompressed(e);
          data.copy(buf, done, within, within + n);
          break;
        }
        case 'partial':
          for (const [a, b, state] of subclusterRuns(e, this.s.subclusterSize, within, within + n)) {
            const out = buf.subarray(done + a - within, done + b - within);
            if (state === 'data') await this.s.file.pread(e.hostOffset + a, out);
            else if (state === 'zero') out.fill(0);
            else await this.readBacking(gc * cs + a, out);
          }
          break;
        case 'invalid':
          throw this.s.markCorrupt(e.reason);
      }
      done += n;
    }
  }

  /**
   * Whether guest bytes from `pos` on, within the cluster that `e` maps, read as zeroes, told
   * from the entry alone (no I/O, for the allocating write path). Unlike readsAsZero, which asks
   * block status, it counts any backing data as not zero.
   */
  private readsZero(e: L2Entry, pos: number): boolean {
    if (e.kind === 'zero') return true;
    if (e.kind !== 'unallocated') return false;
    const b = this.backing;
    return !b || pos >= b.size;
  }

  private async readBacking(pos: number, out: Buffer): Promise<void> {
    const b = this.backing;
    if (!b || pos >= b.size) {
      out.fill(0);
      return;
    }
    const n = Math.min(out.length, b.size - pos);
    await b.read(pos, out.subarray(0, n));
    out.fill(0, n);
  }

  private async readCompressed(e: { hostOffset: number; sectors: number }): Promise<Buffer> {
    const start = e.hostOffset;
    const end = Math.min(start - (start % 512) + e.sectors * 512, this.s.file.size);
    if (start >= end) {
      throw this.s.markCorrupt(`compressed cluster at 0x${start.toString(16)} is past the end of the file`);
    }
    const raw = Buffer.alloc(end - start);
    await this.s.file.pread(start, raw);
    try {
      return decompressCluster(raw, this.compressionType, this.s.clusterSize);
    } catch (err) {
      throw this.s.markCorrupt(`at 0x${start.toString(16)}: ${(err as Error).message}`);
    }
  }

  private get compressionType(): CompressionType {
    return this.s.header.compressionType === 1 ? 1 : 0;
  }

  /**
   * Writes one whole guest cluster compressed (qemu-img convert -c). `data` is the cluster, or
   * the image's shorter last cluster. A cluster that does not compress is written normally. The
   * compressed bytes are packed after the previous compressed cluster when they fit in its host
   * cluster (whose refcount then counts one more user), else into newly allocated clusters.
   */
  async writeCompressed(offset: number, data: Buffer): Promise<void> {
    this.s.assertWritable();
    const cs = this.s.clusterSize;
    checkRange(this, offset, data.length);
    if (offset % cs !== 0 || data.length !== Math.min(cs, this.size - offset)) {
      throw new BlockError('INVALID', 'a compressed write must cover exactly one whole cluster');
    }
    const full = data.length === cs ? data : Buffer.concat([data, Buffer.alloc(cs - data.length)]);
    const packed = compressCluster(full, this.compressionType);
    if (packed.length >= cs) return this.write(offset, data);
    const gc = offset / cs;
    const release = await this.guest.acquire(offset, offset + cs, true);
    try {
      const old = await this.map.entry(gc);
      if (old.kind === 'invalid') throw this.s.markCorrupt(old.reason);
      const host = await this.s.meta.run(() => this.allocBytes(packed.length));
      await this.s.file.pwrite(host, packed);
      const sectors = Math.floor((host + packed.length - 1) / 512) - Math.floor(host / 512) + 1;
      await this.s.meta.run(async () => {
        await this.map.update(gc, 1, (t, i) =>
          encodeCompressedL2Entry(t, i, this.s.clusterBits, host, sectors, this.s.extL2),
        );
        await this.releaseHost(old);
      });
    } finally {
      release();
    }
  }

  /** Where the next compressed cluster may be packed, and the free count it was valid for. */
  private compressedTail = 0;
  private compressedTailFrees = -1;

  /** Allocates `n` bytes for compressed data. Call with `meta` held. */
  private async allocBytes(n: number): Promise<number> {
    const cs = this.s.clusterSize;
    const tail = this.compressedTail;
    // The tail is only reusable while no cluster has been freed since (it could have been reused).
    if (tail % cs !== 0 && this.compressedTailFrees === this.rc.frees && tail + n <= alignUp(tail, cs)) {
      await this.rc.adjust(Math.floor(tail / cs), 1, 1);
      this.compressedTail = tail + n;
      return tail;
    }
    const count = Math.ceil(n / cs);
    const host = await this.rc.allocate(count);
    this.compressedTail = host + n;
    this.compressedTailFrees = this.rc.frees;
    return host;
  }

  // ---- writes ------------------------------------------------------------------------------

  async write(offset: number, data: Buffer, opts?: WriteOptions): Promise<void> {
    this.s.assertWritable();
    checkRange(this, offset, data.length);
    if (data.length > 0) {
      const cs = this.s.clusterSize;
      const start = alignDown(offset, cs);
      const end = alignUp(offset + data.length, cs);
      let release = await this.guest.acquire(start, end, false);
      let done: boolean;
      try {
        done = await this.writeInPlace(offset, data);
      } finally {
        release();
      }
      if (!done) {
        release = await this.guest.acquire(start, end, true);
        try {
          await this.writeAllocating(offset, data);
        } finally {
          release();
        }
      }
    }
    if (opts?.fua) await this.flush();
  }

  /** Writes when every cluster is allocated with refcount 1; returns false (writing nothing) otherwise. */
  private async writeInPlace(offset: number, data: Buffer): Promise<boolean> {
    const cs = this.s.clusterSize;
    const runs: Array<[number, number, number]> = []; // host, data start, length
    let done = 0;
    while (done < data.length) {
      const pos = offset + done;
      const gc = Math.floor(pos / cs);
      const e = this.map.entryNow(gc) ?? (await this.map.entry(gc));
      const n = Math.min(cs - (pos - gc * cs), data.length - done);
      if (!(e.kind === 'normal' || e.kind === 'partial') || !e.copied) return false;
      if (
        e.kind === 'partial' &&
        (e.alloc & subclusterMask(this.s.subclusterSize, pos - gc * cs, pos - gc * cs + n)) >>> 0 !==
          subclusterMask(this.s.subclusterSize, pos - gc * cs, pos - gc * cs + n)
      ) {
        return false;
      }
      const host = e.hostOffset + (pos - gc * cs);
      const last = runs[runs.length - 1];
      if (last && last[0] + last[2] === host) last[2] += n;
      else runs.push([host, done, n]);
      done += n;
    }
    for (const [host, start, n] of runs) {
      this.s.checkDataTarget(host, n);
      if ((await this.rc.get(Math.floor(host / cs))) === 0) {
        throw this.s.markCorrupt(
          `cluster at 0x${alignDown(host, cs).toString(16)} is in use but has refcount 0`,
        );
      }
      await this.s.file.pwrite(host, data.subarray(start, start + n));
    }
    return true;
  }

  /** The write path that allocates. The caller holds the guest range exclusively. */
  private async writeAllocating(offset: number, data: Buffer): Promise<void> {
    const cs = this.s.clusterSize;
    const end = offset + data.length;
    let pos = offset;
    while (pos < end) {
      const gc = Math.floor(pos / cs);
      const e = this.map.entryNow(gc) ?? (await this.map.entry(gc));
      if (e.kind === 'invalid') throw this.s.markCorrupt(e.reason);
      if (e.kind === 'normal' && e.copied) {
        const n = Math.min((gc + 1) * cs, end) - pos;
        await this.writeInPlace(pos, data.subarray(pos - offset, pos - offset + n));
        pos += n;
        continue;
      }
      if (this.s.extL2) {
        const n = Math.min((gc + 1) * cs, end) - pos;
        await this.writeSubclusters(gc, e, pos - gc * cs, data.subarray(pos - offset, pos - offset + n));
        pos += n;
        continue;
      }
      const olds: L2Entry[] = [e];
      let gcEnd = gc + 1;
      const maxRun = Math.max(1, Math.floor(MAX_RUN_BYTES / cs));
      while (gcEnd * cs < end && gcEnd - gc < maxRun) {
        const e2 = this.map.entryNow(gcEnd) ?? (await this.map.entry(gcEnd));
        if (e2.kind === 'invalid') throw this.s.markCorrupt(e2.reason);
        if (e2.kind === 'normal' && e2.copied) break;
        olds.push(e2);
        gcEnd++;
      }
      const count = gcEnd - gc;
      const runStart = gc * cs;
      const runEnd = gcEnd * cs;
      const head = pos - runStart;
      const chunk = Math.min(end, runEnd) - pos;
      const tail = count * cs - head - chunk;
      // The caller's bytes are written as they are, never copied. A partial first or last
      // cluster needs its old content around them (qcow2-cluster.c's COW regions). Where that
      // is zeroes (no backing data there), nothing is written for it when the new clusters lie
      // past the end of the file (a hole there reads as zeroes; qemu-img check accepts a file
      // that ends inside its last cluster), and elsewhere the clusters are zeroed first, when
      // the file system zeroes a range without writing it, as QEMU does (handle_alloc_space).
      // Otherwise the old content goes in a small buffer of its own.
      const headZero = head > 0 && this.readsZero(olds[0]!, runStart);
      const tailZero = tail > 0 && this.readsZero(olds[count - 1]!, runEnd - tail);
      const host = await this.s.meta.run(() => this.rc.allocate(count));
      try {
        this.s.checkDataTarget(host, count * cs);
        const pastEnd = host >= this.s.file.size;
        const zeroFirst = !pastEnd && this.s.file.zeroesQuickly && (headZero || tailZero);
        const zeroesDone = pastEnd || zeroFirst;
        const pieces: Array<[number, Buffer]> = [];
        if (head > 0 && !(headZero && zeroesDone)) {
          const before = pageAlignedBuffer(head); // read into: aligned is several times faster
          await this.readGuest(runStart, before);
          pieces.push([0, before]);
        }
        pieces.push([head, data.subarray(pos - offset, pos - offset + chunk)]);
        if (tail > 0 && !(tailZero && zeroesDone)) {
          const after = pageAlignedBuffer(tail);
          await this.readGuest(runEnd - tail, after);
          pieces.push([head + chunk, after]);
        }
        if (zeroFirst) await this.s.file.zeroRange(host, count * cs);
        // One after the other: buffered writes to one file serialise on its inode lock in the
        // kernel, where a second writer spins while it waits (three at once cost a convert
        // more CPU than the copy itself).
        for (const [at, piece] of pieces) await this.s.file.pwrite(host + at, piece);
      } catch (err) {
        await this.s.meta.run(() => this.rc.adjust(host / cs, count, -1)).catch(() => undefined);
        throw err;
      }
      await this.s.meta.run(async () => {
        await this.map.update(gc, count, (t, i, g) => encodeL2Entry(t, i, host + (g - gc) * cs, true));
        for (const old of olds) await this.releaseHost(old);
      });
      pos += chunk;
    }
  }

  /**
   * Extended L2: writes `data` at byte `within` of guest cluster `gc`. Copy-on-write works on
   * subclusters: the touched subclusters are completed from their old content (backing file or
   * zeroes) and marked allocated, the others keep their state. A cluster owned by this image is
   * written in place; one without a host cluster gets a new one; a shared or compressed cluster
   * is copied whole into a new one.
   */
  private async writeSubclusters(gc: number, e: L2Entry, within: number, data: Buffer): Promise<void> {
    const cs = this.s.clusterSize;
    const unit = this.s.subclusterSize;
    const base = gc * cs;
    if (e.kind === 'invalid') throw this.s.markCorrupt(e.reason);
    // Fresh: no host cluster yet. Owned: a host cluster with refcount 1. Anything else
    // (compressed, or shared with a snapshot) is copied whole below.
    const fresh = e.kind === 'unallocated' || ((e.kind === 'zero' || e.kind === 'partial') && !e.hostOffset);
    const owned =
      (e.kind === 'zero' || e.kind === 'partial' || e.kind === 'normal') && e.hostOffset > 0 && e.copied;
    if (fresh || owned) {
      const lo = within - (within % unit);
      const hi = Math.min(cs, Math.ceil((within + data.length) / unit) * unit);
      const buf = pageAlignedBuffer(hi - lo);
      if (within > lo) await this.readGuest(base + lo, buf.subarray(0, within - lo));
      data.copy(buf, within - lo);
      if (within + data.length < hi)
        await this.readGuest(base + within + data.length, buf.subarray(within + data.length - lo));
      const touched = subclusterMask(unit, lo, hi);
      const oldAlloc = e.kind === 'partial' ? e.alloc : 0;
      const oldZero = e.kind === 'partial' ? e.zero : e.kind === 'zero' ? ALL_SUBCLUSTERS : 0;
      const host = owned
        ? (e as { hostOffset: number }).hostOffset
        : await this.s.meta.run(() => this.rc.allocate(1));
      this.s.checkDataTarget(host + lo, buf.length);
      await this.s.file.pwrite(host + lo, buf);
      await this.s.meta.run(() =>
        this.map.update(gc, 1, (t, i) =>
          encodeExtL2Entry(t, i, host, true, (oldAlloc | touched) >>> 0, (oldZero & ~touched) >>> 0),
        ),
      );
      return;
    }
    // Shared with a snapshot, or compressed: copy the whole cluster.
    const buf = pageAlignedBuffer(cs);
    await this.readGuest(base, buf);
    data.copy(buf, within);
    const host = await this.s.meta.run(() => this.rc.allocate(1));
    this.s.checkDataTarget(host, cs);
    await this.s.file.pwrite(host, buf);
    await this.s.meta.run(async () => {
      await this.map.update(gc, 1, (t, i) => encodeL2Entry(t, i, host, true, false, true));
      await this.releaseHost(e);
    });
  }

  /** Drops the references an old L2 entry held. Call with `meta` held, after the entry is replaced. */
  private async releaseHost(old: L2Entry, punch = false): Promise<void> {
    const cs = this.s.clusterSize;
    // Deferred until the metadata that dropped the reference is on disk (write-back cache).
    if ((old.kind === 'normal' || old.kind === 'zero' || old.kind === 'partial') && old.hostOffset) {
      this.rc.deferFree(old.hostOffset / cs, 1, punch);
    } else if (old.kind === 'compressed') {
      for (const c of compressedClusters(old, cs)) this.rc.deferFree(c / cs, 1);
    }
  }

  /** What a whole cluster becomes when it is discarded or zeroed without a host cluster. */
  private get clearedEntry(): 'zero' | 'unallocated' {
    return this.backing && this.s.v3 ? 'zero' : 'unallocated';
  }

  async discard(offset: number, length: number): Promise<void> {
    this.s.assertWritable();
    checkRange(this, offset, length);
    const cs = this.s.clusterSize;
    const start = alignUp(offset, cs);
    // A discard reaching the end of the device covers its last, partial cluster.
    const end = offset + length === this.size ? alignUp(this.size, cs) : alignDown(offset + length, cs);
    if (start >= end) return;
    await this.clearClusters(start / cs, (end - start) / cs, this.clearedEntry, true);
  }

  /**
   * Sets whole clusters [gc, gc+count) to `target`: 'unallocated', 'zero' (no host cluster), or
   * 'zero-keep' (reads as zero, keeping an allocated host cluster). Frees what the old entries held.
   */
  private async clearClusters(
    gc0: number,
    count: number,
    target: 'unallocated' | 'zero' | 'zero-keep',
    punch: boolean,
  ): Promise<void> {
    const cs = this.s.clusterSize;
    const release = await this.guest.acquire(gc0 * cs, (gc0 + count) * cs, true);
    try {
      await this.s.meta.run(async () => {
        const perTable = this.s.l2Entries;
        for (let g = gc0; g < gc0 + count;) {
          const stop = Math.min(gc0 + count, (Math.floor(g / perTable) + 1) * perTable);
          if (!this.map.l2Offset(Math.floor(g / perTable)) && target === 'unallocated') {
            g = stop;
            continue;
          }
          const olds: L2Entry[] = [];
          for (let x = g; x < stop; x++) olds.push(await this.map.entry(x));
          if (
            olds.every((o) => o.kind === target || (target === 'zero' && o.kind === 'zero' && !o.hostOffset))
          ) {
            g = stop;
            continue;
          }
          const keep = (o: L2Entry): boolean =>
            target === 'zero-keep' &&
            (o.kind === 'normal' || o.kind === 'zero' || o.kind === 'partial') &&
            o.copied &&
            o.hostOffset > 0;
          await this.map.update(g, stop - g, (t, i, x) => {
            const o = olds[x - g]!;
            const ext = this.s.extL2;
            if (target === 'unallocated') encodeL2Entry(t, i, 0, false, false, ext);
            else if (keep(o)) encodeL2Entry(t, i, (o as { hostOffset: number }).hostOffset, true, true, ext);
            else encodeL2Entry(t, i, 0, false, true, ext);
          });
          for (const o of olds) if (!keep(o)) await this.releaseHost(o, punch);
          g = stop;
        }
      });
    } finally {
      release();
    }
  }

  async writeZeroes(offset: number, length: number, opts: ZeroOptions = {}): Promise<void> {
    this.s.assertWritable();
    checkRange(this, offset, length);
    if (length === 0) return;
    const cs = this.s.clusterSize;
    const end = offset + length;
    let fullStart = alignUp(offset, cs);
    let fullEnd = end === this.size ? alignUp(end, cs) : alignDown(end, cs);
    if (fullStart >= fullEnd) {
      fullStart = fullEnd = offset; // no whole cluster: all partial
    }
    // Partial clusters at either end: zero bytes, unless they already read as zero.
    const partials: Array<[number, number]> = [];
    if (offset < fullStart) partials.push([offset, Math.min(fullStart, end)]);
    if (fullEnd < end && fullEnd >= fullStart && !(fullStart === fullEnd && offset < fullStart))
      partials.push([fullEnd, end]);
    if (fullStart === fullEnd && partials.length === 0) partials.push([offset, end]);
    for (const [a, b] of partials) {
      if (await this.readsAsZero(a, b - a)) continue;
      if (opts.fast)
        throw new BlockError('NOT_SUPPORTED', 'fast zeroing of a partial cluster is not supported');
      await this.write(a, Buffer.alloc(b - a));
    }
    if (fullStart < fullEnd) {
      const gc0 = fullStart / cs;
      const count = (fullEnd - fullStart) / cs;
      if (this.s.v3) {
        await this.clearClusters(
          gc0,
          count,
          this.backing ? 'zero' : opts.mayUnmap ? 'unallocated' : 'zero-keep',
          false,
        );
      } else if (!this.backing && opts.mayUnmap) {
        await this.clearClusters(gc0, count, 'unallocated', false);
      } else {
        if (opts.fast) throw new BlockError('NOT_SUPPORTED', 'fast zeroing needs a version 3 image');
        const zeros = Buffer.alloc(Math.min(fullEnd - fullStart, MAX_RUN_BYTES));
        for (let p = fullStart; p < Math.min(fullEnd, this.size); p += zeros.length) {
          const n = Math.min(zeros.length, Math.min(fullEnd, this.size) - p);
          await this.write(p, zeros.subarray(0, n));
        }
      }
    }
    if (opts.fua) await this.flush();
  }

  private async readsAsZero(offset: number, length: number): Promise<boolean> {
    const ext = await this.blockStatus(offset, length);
    return ext.every((e) => e.zero);
  }
  // ---- block status (block-status.ts) -----------------------------------------------------

  blockStatus(offset: number, length: number): Promise<Extent[]> {
    return this.status.blockStatus(offset, length);
  }
}

/** Bits of the subclusters that bytes [from, to) of a cluster touch. */
function subclusterMask(unit: number, from: number, to: number): number {
  if (to <= from) return 0;
  const a = Math.floor(from / unit);
  const b = Math.ceil(to / unit);
  return b - a >= 32 ? ALL_SUBCLUSTERS : ((2 ** (b - a) - 1) * 2 ** a) >>> 0;
}
