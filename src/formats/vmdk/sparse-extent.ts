/**
 * The data path of a hosted sparse extent (monolithicSparse, twoGbMaxExtentSparse, and reading
 * streamOptimized): guest grains -> grain directory -> grain table -> grain sectors.
 *
 * Grain tables are read on demand into a bounded cache. Every change is written through to the
 * file at once (both copies when the extent has a redundant directory, as qemu does), so
 * evicting a table never loses anything.
 *
 * Allocation appends whole grains at the end of the file, aligned to the grain size as qemu
 * does. A run of consecutive unallocated grains touched by one write is allocated contiguously
 * and written with one host write. Order: the grain's data (the write's bytes, zeroes around
 * them) first, then the grain table entries that point at it; a missing grain table is zeroed
 * on disk before the directory entry that points at it. There are no reference counts: a crash
 * between the two steps at worst leaves an unreferenced grain at the end of the file.
 *
 * Concurrency: the image serialises overlapping requests (vmdk.ts); here `meta` serialises
 * allocation, table loads and table updates, so that a table read from disk can never overwrite
 * a newer cached copy. Cached lookups take no lock.
 *
 * Write zeroes and discard never allocate: unallocated and zeroed grains already read as zeroes
 * (there is no parent), and allocated ones are zeroed in place (holes punched when allocation
 * may be released). For the same reason a write of only zeroes to grains without storage
 * allocates nothing. Compressed extents are read-only here; stream-writer.ts writes new ones.
 */
import { appendExtent, type Extent, type HostFile, type ZeroOptions } from '../../block/index.js';
import { alignUp, BlockError, isZero, Mutex } from '../../util/index.js';
import type { ExtentAccess } from './descriptor.js';
import { refuseWrite, type DiskExtent, type ExtentInfo } from './extent.js';
import {
  classifyDirectoryEntry,
  classifyGrainEntry,
  decodeEntries,
  encodeEntries,
  type EntryLimits,
  type GrainEntry,
} from './grain-table.js';
import { readCompressedGrain } from './compressed-grain.js';
import { MAX_EXTENT_SECTORS, type OpenedSparse } from './sparse-open.js';
import { SECTOR } from './sparse-header.js';

/** Grain tables kept in memory per extent (2 KiB each with 512 entries). */
const MAX_CACHED_TABLES = 4096;
/** Decompressed grains kept per extent, for sequential reads smaller than a grain. */
const MAX_CACHED_GRAINS = 4;
/** Bytes allocated and written together at most by one write. */
const MAX_RUN_BYTES = 8 * 1024 * 1024;
/** The entry of every grain of a grain table that does not exist. */
const UNALLOCATED: GrainEntry = { kind: 'unallocated' };

export class SparseExtent implements DiskExtent {
  readonly grainBytes: number;
  private readonly grainSectors: number;
  private readonly gtEntries: number;
  private readonly tables = new Map<number, Uint32Array>();
  private readonly grains = new Map<number, Buffer>();
  private readonly meta = new Mutex();
  private nextSector: number;
  private corruptReason: string | undefined;

  constructor(
    readonly file: HostFile,
    private readonly o: OpenedSparse,
    readonly size: number,
    private readonly access: ExtentAccess,
    /** The extent type for qemu-img info ('' for a monolithic image, 'SPARSE' from a descriptor). */
    private readonly type: string,
  ) {
    this.grainBytes = o.geometry.grainBytes;
    this.grainSectors = o.header.grainSize;
    this.gtEntries = o.geometry.gtEntries;
    this.nextSector = alignUp(Math.ceil(file.size / SECTOR), this.grainSectors);
  }

  get compressed(): boolean {
    return this.o.compressed;
  }

  private get limits(): EntryLimits {
    return {
      overHead: this.o.header.overHead,
      fileSize: this.file.size,
      tableBytes: this.o.geometry.tableBytes,
      zeroGrain: this.o.zeroGrain,
    };
  }

  private markCorrupt(reason: string): BlockError {
    this.corruptReason ??= reason;
    return new BlockError('CORRUPT', `VMDK extent ${this.file.path}: ${reason}`);
  }

  private assertWritable(): void {
    refuseWrite(this.access, this.file.path);
    if (this.corruptReason) {
      throw new BlockError(
        'CORRUPT',
        `VMDK extent ${this.file.path} is corrupt (${this.corruptReason}); not writing`,
      );
    }
    if (this.o.compressed) {
      throw new BlockError(
        'NOT_SUPPORTED',
        `writing to a streamOptimized extent that already holds data is not supported (${this.file.path})`,
      );
    }
  }

  // ---- grain tables ------------------------------------------------------------------------

  private async table(index: number): Promise<Uint32Array | undefined> {
    const t = this.tables.get(index);
    if (t) return t;
    return this.meta.run(() => this.loadTable(index));
  }

  /** Loads a grain table into the cache. Call with `meta` held. */
  private async loadTable(index: number): Promise<Uint32Array | undefined> {
    const cached = this.tables.get(index);
    if (cached) return cached;
    const de = classifyDirectoryEntry(this.o.gd[index]!, index, this.limits);
    if (de.kind === 'none') return undefined;
    if (de.kind === 'invalid') throw this.markCorrupt(de.reason);
    const buf = Buffer.alloc(this.gtEntries * 4);
    await this.file.pread(de.sector * SECTOR, buf);
    return this.cacheTable(index, decodeEntries(buf, this.gtEntries));
  }

  private cacheTable(index: number, t: Uint32Array): Uint32Array {
    if (this.tables.size >= MAX_CACHED_TABLES) this.tables.delete(this.tables.keys().next().value!);
    this.tables.set(index, t);
    return t;
  }

  private async entry(grain: number): Promise<GrainEntry> {
    const t = await this.table(Math.floor(grain / this.gtEntries));
    if (!t) return UNALLOCATED;
    return classifyGrainEntry(t[grain % this.gtEntries]!, grain, this.limits);
  }

  /** Points grains [first, first+count) at consecutive grains from `sector`. Call with `meta` held. */
  private async setEntries(first: number, count: number, sector: number): Promise<void> {
    for (let g = first; g < first + count;) {
      const index = Math.floor(g / this.gtEntries);
      const stop = Math.min(first + count, (index + 1) * this.gtEntries);
      const t = (await this.loadTable(index)) ?? (await this.allocateTable(index));
      const from = g % this.gtEntries;
      for (let x = g; x < stop; x++) t[x % this.gtEntries] = sector + (x - first) * this.grainSectors;
      const bytes = encodeEntries(t, from, from + (stop - g));
      await this.file.pwrite(this.o.gd[index]! * SECTOR + from * 4, bytes);
      const r = this.o.rgd?.[index];
      if (r) await this.file.pwrite(r * SECTOR + from * 4, bytes);
      g = stop;
    }
  }

  /** Creates the grain table (and its redundant copy) for directory entry `index`. Call with `meta` held. */
  private async allocateTable(index: number): Promise<Uint32Array> {
    const { tableBytes } = this.o.geometry;
    const zero = Buffer.alloc(tableBytes);
    const place = async (dir: Uint32Array, dirSector: number): Promise<void> => {
      const sector = this.nextSector;
      if (sector + tableBytes / SECTOR > MAX_EXTENT_SECTORS) throw this.full();
      this.nextSector += tableBytes / SECTOR;
      await this.file.pwrite(sector * SECTOR, zero);
      const e = Buffer.alloc(4);
      e.writeUInt32LE(sector);
      await this.file.pwrite(dirSector * SECTOR + index * 4, e);
      dir[index] = sector;
    };
    if (this.o.rgd) await place(this.o.rgd, this.o.header.rgdOffset);
    await place(this.o.gd, this.o.header.gdOffset);
    return this.cacheTable(index, new Uint32Array(this.gtEntries));
  }

  private full(): BlockError {
    return new BlockError(
      'NO_SPACE',
      `VMDK extent ${this.file.path} is full: sparse extent files end below 2 TiB`,
    );
  }

  /** Reserves `count` grain-aligned grains at the end of the file. Call with `meta` held. */
  private reserve(count: number): number {
    const start = alignUp(this.nextSector, this.grainSectors);
    const end = start + count * this.grainSectors;
    if (end > MAX_EXTENT_SECTORS) throw this.full();
    this.nextSector = end;
    return start;
  }

  // ---- data path ---------------------------------------------------------------------------

  async read(offset: number, buf: Buffer): Promise<void> {
    const gb = this.grainBytes;
    let done = 0;
    while (done < buf.length) {
      const pos = offset + done;
      const grain = Math.floor(pos / gb);
      const within = pos - grain * gb;
      let n = Math.min(gb - within, buf.length - done);
      const e = await this.entry(grain);
      switch (e.kind) {
        case 'allocated':
          if (this.o.compressed) {
            (await this.inflateGrain(grain, e.sector)).copy(buf, done, within, within + n);
          } else {
            n = await this.extendRun(grain, e.sector, n, buf.length - done);
            await this.file.pread(e.sector * SECTOR + within, buf.subarray(done, done + n));
          }
          break;
        case 'zero':
        case 'unallocated':
          buf.fill(0, done, done + n);
          break;
        case 'invalid':
          throw this.markCorrupt(e.reason);
      }
      done += n;
    }
  }

  /** Grows `n` over the following grains while they are allocated right after `sector`'s grain. */
  private async extendRun(grain: number, sector: number, n: number, max: number): Promise<number> {
    for (let next = grain + 1; n < max; next++) {
      const e = await this.entry(next);
      if (e.kind !== 'allocated' || e.sector !== sector + (next - grain) * this.grainSectors) break;
      n += Math.min(this.grainBytes, max - n);
    }
    return n;
  }

  async write(offset: number, data: Buffer): Promise<void> {
    this.assertWritable();
    const gb = this.grainBytes;
    let done = 0;
    while (done < data.length) {
      const pos = offset + done;
      const grain = Math.floor(pos / gb);
      const within = pos - grain * gb;
      const e = await this.entry(grain);
      if (e.kind === 'invalid') throw this.markCorrupt(e.reason);
      if (e.kind === 'allocated') {
        const n = await this.extendRun(
          grain,
          e.sector,
          Math.min(gb - within, data.length - done),
          data.length - done,
        );
        await this.file.pwrite(e.sector * SECTOR + within, data.subarray(done, done + n));
        done += n;
        continue;
      }
      // A run of grains without storage: allocate them together.
      let count = 1;
      const lastGrain = Math.floor((offset + data.length - 1) / gb);
      while (grain + count <= lastGrain && (count + 1) * gb <= MAX_RUN_BYTES) {
        const k = (await this.entry(grain + count)).kind;
        if (k !== 'unallocated' && k !== 'zero') break;
        count++;
      }
      const run = Buffer.alloc(count * gb);
      const n = Math.min(run.length - within, data.length - done);
      data.copy(run, within, done, done + n);
      if (isZero(run)) {
        // Zeroes into grains that already read as zeroes (there is no parent): nothing to store.
        done += n;
        continue;
      }
      const sector = await this.meta.run(async () => this.reserve(count));
      await this.file.pwrite(sector * SECTOR, run);
      await this.meta.run(() => this.setEntries(grain, count, sector));
      done += n;
    }
  }

  async zero(offset: number, length: number, opts: ZeroOptions): Promise<void> {
    this.assertWritable();
    const gb = this.grainBytes;
    for (let done = 0; done < length;) {
      const pos = offset + done;
      const grain = Math.floor(pos / gb);
      const within = pos - grain * gb;
      const n = Math.min(gb - within, length - done);
      const e = await this.entry(grain);
      if (e.kind === 'invalid') throw this.markCorrupt(e.reason);
      if (e.kind === 'allocated') {
        await this.file.zeroRange(e.sector * SECTOR + within, n, {
          mayUnmap: opts.mayUnmap,
          fast: opts.fast,
        });
      }
      done += n;
    }
  }

  async status(offset: number, length: number): Promise<Extent[]> {
    const gb = this.grainBytes;
    const out: Extent[] = [];
    const end = offset + length;
    let pos = offset;
    while (pos < end) {
      // One grain table at a time, its grains classified without a promise (or an extent
      // object) each: a convert asks for a whole 1 GiB window, 16384 grains of 64 KiB.
      const first = Math.floor(pos / gb);
      const index = Math.floor(first / this.gtEntries);
      const t = await this.table(index);
      const stop = Math.min(end, (index + 1) * this.gtEntries * gb);
      for (let grain = first; pos < stop; grain++) {
        const n = Math.min((grain + 1) * gb, stop) - pos;
        const e = t ? classifyGrainEntry(t[grain % this.gtEntries]!, grain, this.limits) : UNALLOCATED;
        this.appendGrain(out, e, pos, n, pos - grain * gb);
        pos += n;
      }
    }
    return out;
  }

  /** Adds `n` bytes at guest `pos`, `within` bytes into a grain whose entry is `e`. */
  private appendGrain(out: Extent[], e: GrainEntry, pos: number, n: number, within: number): void {
    if (e.kind === 'invalid') throw this.markCorrupt(e.reason);
    const data = e.kind === 'allocated';
    const x: Extent = {
      offset: pos,
      length: n,
      depth: 0,
      data,
      zero: !data,
      present: e.kind !== 'unallocated',
    };
    if (e.kind === 'allocated' && !this.o.compressed) {
      x.hostOffset = e.sector * SECTOR + within;
      x.hostFile = this.file.path;
    }
    appendExtent(out, x);
  }

  /** The whole decompressed grain whose marker is at `sector`. */
  private async inflateGrain(grain: number, sector: number): Promise<Buffer> {
    const hit = this.grains.get(grain);
    if (hit) return hit;
    const gb = this.grainBytes;
    const need = Math.min(gb, this.size - grain * gb);
    const r = await readCompressedGrain(this.file, sector, grain * this.grainSectors, gb, need);
    if (!r.grain) throw this.markCorrupt(r.reason!);
    if (this.grains.size >= MAX_CACHED_GRAINS) this.grains.delete(this.grains.keys().next().value!);
    this.grains.set(grain, r.grain);
    return r.grain;
  }

  flush(): Promise<void> {
    return this.file.flush();
  }

  close(): Promise<void> {
    return this.file.close();
  }

  info(): ExtentInfo {
    const i: ExtentInfo = {
      filename: this.file.path,
      format: this.type,
      'virtual-size': this.size,
      'cluster-size': this.grainBytes,
    };
    if (this.o.compressed) i.compressed = true;
    return i;
  }
}
