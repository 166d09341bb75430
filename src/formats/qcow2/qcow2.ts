/**
 * The qcow2 driver: opens an image (header, extensions, refcounts, L1, backing chain) and
 * serves it as a BlockDevice.
 *
 * Concurrency (STYLE.md convention 8): `guest` is a range lock over guest bytes, rounded out to
 * whole clusters. Reads, block status and in-place writes to clusters that are already allocated
 * take it shared; anything that changes a cluster's mapping (allocating writes, discard, write
 * zeroes) takes it exclusive, and resize/close take the whole device exclusive (drain). Metadata
 * mutations are additionally serialised by `state.meta`. Data of an allocating write is written
 * to its new clusters before the L2 entry points at them, so a concurrent reader of another
 * cluster never sees a half-built mapping.
 */
import path from 'node:path';
import { inflateRawSync } from 'node:zlib';
import {
  checkRange,
  HostFile,
  type BlockCaps,
  type Extent,
  type WriteOptions,
  type ZeroOptions,
} from '../../block/index.js';
import { alignDown, alignUp, BlockError, RangeLock } from '../../util/index.js';
import type {
  CheckOptions,
  CheckReport,
  CreateImageOptions,
  Image,
  ImageFormat,
  ImageInfo,
  OpenImageOptions,
  ResizeOptions,
} from '../image.js';
import { ClusterMap } from './cluster-map.js';
import { parseCreateOptions, writeEmptyQcow2 } from './create.js';
import { compressedClusters, encodeL2Entry, type L2Entry } from './entries.js';
import { decodeExtensions, decodeFeatureTable, EXT, type HeaderExtension } from './header-ext.js';
import { COMPAT, decodeHeader, INCOMPAT, INCOMPAT_NAMES, unknownBits } from './header.js';
import { Refcounts } from './refcounts.js';
import { decodeSnapshotTable, MAX_SNAPSHOT_TABLE } from './snapshot-table.js';
import { Qcow2State } from './state.js';
import { checkQcow2 } from './check.js';

const KNOWN_INCOMPAT =
  INCOMPAT.DIRTY | INCOMPAT.CORRUPT | INCOMPAT.DATA_FILE | INCOMPAT.COMPRESSION | INCOMPAT.EXTL2;
/** Clusters allocated together at most by one write (bounds the bounce buffer). */
const MAX_RUN_BYTES = 8 * 1024 * 1024;
const WHOLE_DEVICE = Number.MAX_SAFE_INTEGER;

/** Opens another image of the chain; injected to keep this module free of the format registry. */
export type ImageOpener = (path: string, opts: OpenImageOptions) => Promise<Image>;

/** qemu's path_combine: a relative backing name is relative to the overlay's directory. */
export function combineBackingPath(imagePath: string, backing: string): string {
  if (path.isAbsolute(backing)) return backing;
  const slash = imagePath.lastIndexOf('/');
  return slash < 0 ? backing : imagePath.slice(0, slash + 1) + backing;
}

export class Qcow2Image implements Image {
  readonly format = 'qcow2' as const;
  readonly caps: BlockCaps;
  readonly s: Qcow2State;
  readonly rc: Refcounts;
  readonly map: ClusterMap;
  readonly extensions: HeaderExtension[];
  readonly backingName: string | undefined;
  readonly backingFormatName: string | undefined;
  backing: Image | undefined;
  private readonly guest = new RangeLock();
  private closed = false;

  private constructor(
    s: Qcow2State,
    rc: Refcounts,
    map: ClusterMap,
    exts: HeaderExtension[],
    backingName: string | undefined,
  ) {
    this.s = s;
    this.rc = rc;
    this.map = map;
    this.extensions = exts;
    this.backingName = backingName;
    const fmt = exts.find((e) => e.type === EXT.BACKING_FORMAT);
    this.backingFormatName = fmt ? fmt.data.toString('utf8') : undefined;
    this.caps = {
      readOnly: s.readOnly,
      canFlush: s.file.caps.canFlush,
      canFua: true,
      canDiscard: !s.readOnly,
      canZero: !s.readOnly && s.v3,
      rotational: false,
      minBlockSize: 1,
      preferredBlockSize: s.clusterSize,
      maxTransfer: 32 * 1024 * 1024,
    };
  }

  static async open(file: string, opts: OpenImageOptions = {}, opener?: ImageOpener): Promise<Qcow2Image> {
    const readOnly = opts.readOnly ?? false;
    const hf = await HostFile.open(file, {
      readOnly,
      cache: opts.cache ?? 'writeback',
      lock: opts.lock ?? true,
    });
    try {
      const img = await Qcow2Image.openOn(hf, file, readOnly);
      if (img.backingName && (opts.openBacking ?? true)) {
        const backingPath = combineBackingPath(file, img.backingName);
        if (!opener) throw new BlockError('NOT_SUPPORTED', 'no opener for backing files');
        const fmt = img.backingFormatName as ImageFormat | undefined;
        if (fmt && fmt !== 'raw' && fmt !== 'qcow2') {
          throw new BlockError('NOT_SUPPORTED', `backing file format '${fmt}' is not supported yet`);
        }
        try {
          img.backing = await opener(backingPath, {
            readOnly: true,
            cache: opts.cache ?? 'writeback',
            ...(fmt ? { format: fmt } : {}),
          });
        } catch (err) {
          await img.closeFile();
          const e = err as BlockError;
          throw new BlockError(e.code ?? 'IO', `Could not open backing file ${backingPath}: ${e.message}`, {
            cause: err,
          });
        }
      }
      return img;
    } catch (err) {
      await hf.close().catch(() => undefined);
      throw err;
    }
  }

  private static async openOn(hf: HostFile, file: string, readOnly: boolean): Promise<Qcow2Image> {
    const first = Buffer.alloc(4096);
    await hf.pread(0, first);
    const h = decodeHeader(first);
    if (h.clusterBits < 9 || h.clusterBits > 21) {
      throw new BlockError('CORRUPT', `qcow2 cluster_bits ${h.clusterBits} is out of range (9 to 21)`);
    }
    const cs = 2 ** h.clusterBits;
    const cluster0 = Buffer.alloc(cs);
    await hf.pread(0, cluster0);
    const unknown = unknownBits(h.incompatibleFeatures, KNOWN_INCOMPAT);
    let exts: HeaderExtension[] = [];
    const extEnd = h.backingFileOffset && h.backingFileOffset < cs ? h.backingFileOffset : cs;
    if (h.version === 3 || extEnd > h.headerLength) {
      exts = decodeExtensions(cluster0, h.headerLength, Math.max(extEnd, h.headerLength + 8)).exts;
    }
    if (unknown.length) {
      const table = exts.find((e) => e.type === EXT.FEATURE_TABLE);
      const names = table ? decodeFeatureTable(table.data) : [];
      const what = unknown.map((b) => {
        const n = names.find((f) => f.type === 0 && f.bit === b);
        return n ? `bit ${b} (${n.name})` : `bit ${b}`;
      });
      throw new BlockError(
        'NOT_SUPPORTED',
        `qcow2 image ${file} uses unsupported incompatible features: ${what.join(', ')}`,
      );
    }
    if (h.cryptMethod !== 0)
      throw new BlockError('NOT_SUPPORTED', `encrypted qcow2 images are not supported (${file})`);
    if (h.incompatibleFeatures & INCOMPAT.DATA_FILE) {
      throw new BlockError(
        'NOT_SUPPORTED',
        `qcow2 images with an external data file are not supported yet (${file})`,
      );
    }
    if (h.incompatibleFeatures & INCOMPAT.EXTL2) {
      throw new BlockError(
        'NOT_SUPPORTED',
        `qcow2 images with extended L2 entries (${INCOMPAT_NAMES[4]}) are not supported yet (${file})`,
      );
    }
    if (h.refcountOrder > 6)
      throw new BlockError('CORRUPT', `qcow2 refcount_order ${h.refcountOrder} is out of range`);
    if (h.compressionType > 1)
      throw new BlockError('NOT_SUPPORTED', `unknown qcow2 compression type ${h.compressionType}`);
    if (!readOnly && h.incompatibleFeatures & INCOMPAT.CORRUPT) {
      throw new BlockError(
        'CORRUPT',
        `qcow2 image ${file} is marked corrupt; it cannot be opened read/write (repair it with vdisk img check -r all)`,
      );
    }
    let backingName: string | undefined;
    if (h.backingFileOffset) {
      if (h.backingFileSize > 1023 || h.backingFileOffset + h.backingFileSize > cs) {
        throw new BlockError('CORRUPT', `qcow2 backing file name of ${file} is out of bounds`);
      }
      backingName = cluster0.toString('utf8', h.backingFileOffset, h.backingFileOffset + h.backingFileSize);
    }
    const s = new Qcow2State(hf, h, readOnly);
    s.metadataClusters.add(0);
    for (let c = 0; c < h.refcountTableClusters; c++) s.metadataClusters.add(h.refcountTableOffset + c * cs);
    if (h.refcountTableOffset === 0 || h.refcountTableOffset % cs !== 0) {
      throw s.markCorrupt('refcount table offset is invalid');
    }
    const rc = await Refcounts.load(s);
    const map = await ClusterMap.load(s, rc);
    const img = new Qcow2Image(s, rc, map, exts, backingName);
    if (h.nbSnapshots > 0) await img.registerSnapshots();
    if (!readOnly) await img.prepareWritable();
    return img;
  }

  /** Registers the snapshot table and snapshot L1 tables as metadata. */
  private async registerSnapshots(): Promise<void> {
    const { s } = this;
    const h = s.header;
    if (h.snapshotsOffset % s.clusterSize !== 0)
      throw s.markCorrupt('snapshot table offset is not cluster aligned');
    const len = Math.min(MAX_SNAPSHOT_TABLE, s.file.size - h.snapshotsOffset);
    if (len <= 0) throw s.markCorrupt('snapshot table is past the end of the file');
    const buf = Buffer.alloc(Math.min(len, h.nbSnapshots * 1200 + 4096));
    await s.file.pread(h.snapshotsOffset, buf);
    let table;
    try {
      table = decodeSnapshotTable(buf, h.nbSnapshots);
    } catch (err) {
      throw s.markCorrupt((err as Error).message);
    }
    for (let c = 0; c < Math.ceil(table.size / s.clusterSize); c++)
      s.metadataClusters.add(h.snapshotsOffset + c * s.clusterSize);
    for (const e of table.entries) {
      for (let c = 0; c < Math.ceil((e.l1Size * 8) / s.clusterSize); c++)
        s.metadataClusters.add(e.l1TableOffset + c * s.clusterSize);
    }
  }

  private async prepareWritable(): Promise<void> {
    const { s } = this;
    const h = s.header;
    if (h.nbSnapshots > 0) {
      throw new BlockError(
        'NOT_SUPPORTED',
        `writing qcow2 images with internal snapshots is not supported yet (${s.file.path}); open it read-only`,
      );
    }
    if (h.incompatibleFeatures & INCOMPAT.DIRTY) {
      // Refcounts may be stale (lazy refcounts and an unclean shutdown): rebuild them.
      await this.repair('all');
      h.incompatibleFeatures &= ~INCOMPAT.DIRTY;
      await s.writeHeaderFields();
    }
    if (h.autoclearFeatures !== 0n) {
      // We maintain none of the autoclear features: clear them before the first write.
      h.autoclearFeatures = 0n;
      await s.writeHeaderFields();
    }
    if (h.compatibleFeatures & COMPAT.LAZY_REFCOUNTS) {
      this.rc.lazy = true;
      this.rc.beforeFirstLazyUpdate = async () => {
        if (!(h.incompatibleFeatures & INCOMPAT.DIRTY)) {
          h.incompatibleFeatures |= INCOMPAT.DIRTY;
          await s.writeHeaderFields();
        }
      };
    }
  }

  /** Creates an image; with preallocation, allocates it through the opened image. */
  static async create(file: string, opts: CreateImageOptions, opener?: ImageOpener): Promise<void> {
    const options = { ...(opts.options ?? {}) };
    if (opts.backingFile) options['backing_file'] = opts.backingFile;
    if (opts.backingFormat) options['backing_fmt'] = opts.backingFormat;
    let size = opts.size;
    if (options['backing_file'] && opener) {
      const bpath = combineBackingPath(file, options['backing_file']);
      let b: Image;
      try {
        b = await opener(bpath, {
          readOnly: true,
          ...(options['backing_fmt'] ? { format: options['backing_fmt'] as ImageFormat } : {}),
        });
      } catch (err) {
        throw new BlockError(
          (err as BlockError).code ?? 'IO',
          `Could not open backing file ${bpath}: ${(err as Error).message}`,
        );
      }
      try {
        size ??= b.size;
        if (!options['backing_fmt']) options['backing_fmt'] = b.format;
      } finally {
        await b.close();
      }
    }
    if (size === undefined) throw new BlockError('INVALID', 'an image size is required');
    const o = parseCreateOptions(size, options);
    await writeEmptyQcow2(file, o);
    if (o.preallocation !== 'off') {
      const img = await Qcow2Image.open(file, { openBacking: false });
      try {
        await img.preallocate(0, img.size, o.preallocation);
      } finally {
        await img.close();
      }
    }
  }

  get filename(): string {
    return this.s.file.path;
  }

  get size(): number {
    return this.s.header.size;
  }

  get clusterSize(): number {
    return this.s.clusterSize;
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
  private async readGuest(offset: number, buf: Buffer): Promise<void> {
    const cs = this.s.clusterSize;
    let done = 0;
    while (done < buf.length) {
      const pos = offset + done;
      const gc = Math.floor(pos / cs);
      const within = pos - gc * cs;
      const e = await this.map.entry(gc);
      let n = Math.min(cs - within, buf.length - done);
      switch (e.kind) {
        case 'normal': {
          // Coalesce clusters that are contiguous on the host too.
          let next = gc + 1;
          while (done + n < buf.length) {
            const e2 = await this.map.entry(next);
            if (e2.kind !== 'normal' || e2.hostOffset !== e.hostOffset + (next - gc) * cs) break;
            n += Math.min(cs, buf.length - done - n);
            next++;
          }
          await this.s.file.pread(e.hostOffset + within, buf.subarray(done, done + n));
          break;
        }
        case 'zero':
          buf.fill(0, done, done + n);
          break;
        case 'unallocated': {
          let next = gc + 1;
          while (done + n < buf.length && (await this.map.entry(next)).kind === 'unallocated') {
            n += Math.min(cs, buf.length - done - n);
            next++;
          }
          await this.readBacking(pos, buf.subarray(done, done + n));
          break;
        }
        case 'compressed': {
          const data = await this.readCompressed(e);
          data.copy(buf, done, within, within + n);
          break;
        }
        case 'invalid':
          throw this.s.markCorrupt(e.reason);
      }
      done += n;
    }
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
    if (this.s.header.compressionType !== 0) {
      throw new BlockError('NOT_SUPPORTED', 'zstd-compressed clusters are not supported yet');
    }
    const start = e.hostOffset;
    const end = Math.min((e.hostOffset & ~511) + e.sectors * 512, this.s.file.size);
    if (start >= end)
      throw this.s.markCorrupt(`compressed cluster at 0x${start.toString(16)} is past the end of the file`);
    const raw = Buffer.alloc(end - start);
    await this.s.file.pread(start, raw);
    let out: Buffer;
    try {
      out = inflateRawSync(raw, { finishFlush: 2 /* Z_SYNC_FLUSH */, maxOutputLength: this.s.clusterSize });
    } catch (err) {
      if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
        throw this.s.markCorrupt(
          `compressed cluster at 0x${start.toString(16)} inflates past the cluster size`,
        );
      }
      throw this.s.markCorrupt(
        `compressed cluster at 0x${start.toString(16)} cannot be decompressed: ${(err as Error).message}`,
      );
    }
    if (out.length < this.s.clusterSize) {
      throw this.s.markCorrupt(
        `compressed cluster at 0x${start.toString(16)} is short (${out.length} bytes)`,
      );
    }
    return out;
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
      const e = await this.map.entry(gc);
      if (e.kind !== 'normal' || !e.copied) return false;
      const n = Math.min(cs - (pos - gc * cs), data.length - done);
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
      const e = await this.map.entry(gc);
      if (e.kind === 'invalid') throw this.s.markCorrupt(e.reason);
      if (e.kind === 'normal' && e.copied) {
        const n = Math.min((gc + 1) * cs, end) - pos;
        await this.writeInPlace(pos, data.subarray(pos - offset, pos - offset + n));
        pos += n;
        continue;
      }
      const olds: L2Entry[] = [e];
      let gcEnd = gc + 1;
      while (gcEnd * cs < end && (gcEnd - gc) * cs < MAX_RUN_BYTES) {
        const e2 = await this.map.entry(gcEnd);
        if (e2.kind === 'invalid') throw this.s.markCorrupt(e2.reason);
        if (e2.kind === 'normal' && e2.copied) break;
        olds.push(e2);
        gcEnd++;
      }
      const count = gcEnd - gc;
      const runStart = gc * cs;
      const runEnd = gcEnd * cs;
      const buf = Buffer.allocUnsafe(count * cs);
      const head = pos - runStart;
      if (head > 0) await this.readGuest(runStart, buf.subarray(0, head));
      const chunk = Math.min(end, runEnd) - pos;
      data.copy(buf, head, pos - offset, pos - offset + chunk);
      if (head + chunk < buf.length)
        await this.readGuest(runStart + head + chunk, buf.subarray(head + chunk));
      const host = await this.s.meta.run(() => this.rc.allocate(count));
      try {
        this.s.checkDataTarget(host, buf.length);
        await this.s.file.pwrite(host, buf);
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

  /** Drops the references an old L2 entry held. Call with `meta` held, after the entry is replaced. */
  private async releaseHost(old: L2Entry, punch = false): Promise<void> {
    const cs = this.s.clusterSize;
    if ((old.kind === 'normal' || old.kind === 'zero') && old.hostOffset) {
      if (punch && (await this.rc.get(old.hostOffset / cs)) === 1)
        await this.s.file.discard(old.hostOffset, cs);
      await this.rc.adjust(old.hostOffset / cs, 1, -1);
    } else if (old.kind === 'compressed') {
      for (const c of compressedClusters(old, cs)) await this.rc.adjust(c / cs, 1, -1);
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
            (o.kind === 'normal' || o.kind === 'zero') &&
            o.copied &&
            o.hostOffset > 0;
          await this.map.update(g, stop - g, (t, i, x) => {
            const o = olds[x - g]!;
            if (target === 'unallocated') encodeL2Entry(t, i, 0, false, false);
            else if (keep(o)) encodeL2Entry(t, i, (o as { hostOffset: number }).hostOffset, true, true);
            else encodeL2Entry(t, i, 0, false, true);
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

  // ---- block status ------------------------------------------------------------------------

  async blockStatus(offset: number, length: number): Promise<Extent[]> {
    checkRange(this, offset, length);
    const out: Extent[] = [];
    if (length === 0) return out;
    const cs = this.s.clusterSize;
    const release = await this.guest.acquire(alignDown(offset, cs), alignUp(offset + length, cs), false);
    try {
      const end = offset + length;
      let pos = offset;
      while (pos < end) {
        const gc = Math.floor(pos / cs);
        const within = pos - gc * cs;
        const n = Math.min(cs - within, end - pos);
        const e = await this.map.entry(gc);
        switch (e.kind) {
          case 'normal': {
            // One host query for the whole host-contiguous run.
            let m = n;
            while (pos + m < end) {
              const g2 = Math.floor((pos + m) / cs);
              const e2 = await this.map.entry(g2);
              if (e2.kind !== 'normal' || e2.hostOffset !== e.hostOffset + (g2 - gc) * cs) break;
              m += Math.min(cs, end - pos - m);
            }
            for (const x of await this.hostStatus(pos, m, e.hostOffset + within)) push(out, x);
            pos += m;
            continue;
          }
          case 'compressed':
            push(out, { offset: pos, length: n, data: true, zero: false, present: true, depth: 0 });
            break;
          case 'zero': {
            const x: Extent = { offset: pos, length: n, data: false, zero: true, present: true, depth: 0 };
            if (e.hostOffset) {
              x.hostOffset = e.hostOffset + within;
              x.hostFile = this.filename;
            }
            push(out, x);
            break;
          }
          case 'unallocated': {
            let m = n;
            while (
              pos + m < end &&
              (await this.map.entry(Math.floor((pos + m) / cs))).kind === 'unallocated'
            ) {
              m += Math.min(cs, end - pos - m);
            }
            for (const x of await this.backingStatus(pos, m)) push(out, x);
            pos += m;
            continue;
          }
          case 'invalid':
            throw this.s.markCorrupt(e.reason);
        }
        pos += n;
      }
    } finally {
      release();
    }
    return out;
  }

  /**
   * Allocated data whose host range is a hole in the host file reads as zeroes: report it as
   * zero too (as qemu does for metadata-preallocated images).
   */
  private async hostStatus(pos: number, n: number, host: number): Promise<Extent[]> {
    const file = this.s.file;
    const base = { present: true, depth: 0, data: true, hostFile: this.filename };
    if (host + n > file.size)
      return [{ ...base, offset: pos, length: n, zero: host >= file.size, hostOffset: host }];
    const out: Extent[] = [];
    for (const h of await file.blockStatus(host, n)) {
      out.push({
        ...base,
        offset: pos + (h.offset - host),
        length: h.length,
        zero: !h.data,
        hostOffset: h.offset,
      });
    }
    return out;
  }

  private async backingStatus(pos: number, length: number): Promise<Extent[]> {
    const b = this.backing;
    if (!b) return [{ offset: pos, length, data: false, zero: true, present: false, depth: 0 }];
    const out: Extent[] = [];
    const within = Math.max(0, Math.min(length, b.size - pos));
    if (within > 0) {
      for (const x of await b.blockStatus(pos, within)) out.push({ ...x, depth: x.depth + 1 });
    }
    // Past the end of a shorter backing file, reads are zeroes of this image (qemu reports depth 0).
    if (within < length)
      out.push({
        offset: pos + within,
        length: length - within,
        data: false,
        zero: true,
        present: false,
        depth: 0,
      });
    return out;
  }

  // ---- flush, resize, info, close ----------------------------------------------------------

  async flush(): Promise<void> {
    if (this.s.readOnly) return;
    if (this.rc.hasDirty) await this.s.meta.run(() => this.rc.writeDirty());
    await this.s.file.flush();
  }

  async resize(size: number, opts: ResizeOptions = {}): Promise<void> {
    this.s.assertWritable();
    if (!Number.isSafeInteger(size) || size < 0) throw new BlockError('INVALID', `invalid size ${size}`);
    const old = this.size;
    if (size === old) return;
    if (size < old && !opts.shrink) {
      throw new BlockError('INVALID', 'shrinking an image loses data at its end: use --shrink to confirm');
    }
    if (size < old && opts.prealloc && opts.prealloc !== 'off') {
      throw new BlockError('INVALID', 'preallocation can only be used when growing an image');
    }
    const cs = this.s.clusterSize;
    const release = await this.guest.acquire(0, WHOLE_DEVICE, true);
    try {
      if (size < old) {
        // Only an unallocated tail can be cut off.
        for (let gc = Math.ceil(size / cs); gc * cs < old; gc++) {
          const e = await this.map.entry(gc);
          if (e.kind !== 'unallocated' && !(e.kind === 'zero' && !e.hostOffset)) {
            throw new BlockError(
              'NOT_SUPPORTED',
              `cannot shrink: guest data is allocated at offset ${gc * cs} past the new size; discard it first`,
            );
          }
        }
        await this.s.meta.run(async () => {
          const cover = cs * this.s.l2Entries;
          for (let l1i = Math.ceil(size / cover); l1i < this.map.l1Size; l1i++) await this.map.dropTable(l1i);
          this.s.header.size = size;
          await this.s.writeHeaderFields();
        });
        // A partial last cluster keeps stale bytes past the new end; they must not reappear on a
        // later grow, which zeroes them (see the grow path).
      } else {
        await this.s.meta.run(async () => {
          await this.map.growL1(Math.ceil(size / (cs * this.s.l2Entries)));
          this.s.header.size = size;
          await this.s.writeHeaderFields();
        });
      }
    } finally {
      release();
    }
    if (size > old) {
      // The grown area must read as zero: a partial old last cluster and a larger backing file
      // could otherwise show through.
      const zeroEnd = Math.min(
        size,
        Math.max(alignUp(old, cs), this.backing ? Math.min(this.backing.size, size) : 0),
      );
      if (zeroEnd > old) await this.writeZeroes(old, zeroEnd - old, { mayUnmap: true });
      if (opts.prealloc && opts.prealloc !== 'off')
        await this.preallocate(alignUp(old, cs), size, opts.prealloc);
    }
  }

  /** Allocates every unallocated cluster of [start, end) (metadata), and its host space (falloc/full). */
  async preallocate(start: number, end: number, mode: 'metadata' | 'falloc' | 'full'): Promise<void> {
    const cs = this.s.clusterSize;
    const release = await this.guest.acquire(alignDown(start, cs), WHOLE_DEVICE, true);
    try {
      const last = Math.ceil(end / cs);
      const maxRun = Math.max(1, Math.floor(MAX_RUN_BYTES / cs));
      let g = Math.floor(start / cs);
      while (g < last) {
        if ((await this.map.entry(g)).kind !== 'unallocated') {
          g++;
          continue;
        }
        let h = g + 1;
        while (h < last && h - g < maxRun && (await this.map.entry(h)).kind === 'unallocated') h++;
        const first = g;
        const count = h - g;
        await this.s.meta.run(async () => {
          const host = await this.rc.allocate(count);
          if (mode === 'falloc') await this.s.file.allocate(host, count * cs);
          else if (mode === 'full') await this.s.file.pwrite(host, Buffer.alloc(count * cs));
          await this.map.update(first, count, (t, i, x) =>
            encodeL2Entry(t, i, host + (x - first) * cs, true),
          );
        });
        g = h;
      }
    } finally {
      release();
    }
  }

  async info(): Promise<ImageInfo> {
    const h = this.s.header;
    const data: Record<string, unknown> = {
      compat: h.version === 3 ? '1.1' : '0.10',
      'compression-type': h.compressionType === 1 ? 'zstd' : 'zlib',
    };
    if (h.version === 3) {
      data['lazy-refcounts'] = (h.compatibleFeatures & COMPAT.LAZY_REFCOUNTS) !== 0n;
      data['refcount-bits'] = this.s.refcountBits;
      data['corrupt'] = (h.incompatibleFeatures & INCOMPAT.CORRUPT) !== 0n;
      data['extended-l2'] = false;
    } else {
      data['refcount-bits'] = this.s.refcountBits;
    }
    const info: ImageInfo = {
      filename: this.filename,
      format: 'qcow2',
      'virtual-size': this.size,
      'actual-size': this.s.file.allocatedBytes(),
      'cluster-size': this.s.clusterSize,
      'dirty-flag': (h.incompatibleFeatures & INCOMPAT.DIRTY) !== 0n,
      'format-specific': { type: 'qcow2', data },
    };
    if (this.backingName) {
      info['backing-filename'] = this.backingName;
      info['full-backing-filename'] = combineBackingPath(this.filename, this.backingName);
      if (this.backingFormatName) info['backing-filename-format'] = this.backingFormatName;
    }
    return info;
  }

  /** Consistency check, and repair of what it finds when asked. */
  async check(opts: CheckOptions = {}): Promise<CheckReport> {
    const release = await this.guest.acquire(0, WHOLE_DEVICE, true);
    try {
      return await this.s.meta.run(() => checkQcow2(this, opts.repair));
    } finally {
      release();
    }
  }

  private async repair(mode: 'leaks' | 'all'): Promise<CheckReport> {
    return this.s.meta.run(() => checkQcow2(this, mode));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const release = await this.guest.acquire(0, WHOLE_DEVICE, true);
    try {
      if (!this.s.readOnly && !this.s.corruptReason) {
        await this.flush();
        const h = this.s.header;
        if (h.incompatibleFeatures & INCOMPAT.DIRTY) {
          h.incompatibleFeatures &= ~INCOMPAT.DIRTY;
          await this.s.writeHeaderFields();
        }
      }
    } finally {
      release();
      await this.closeFile();
    }
  }

  private async closeFile(): Promise<void> {
    try {
      await this.s.file.close();
    } finally {
      if (this.backing) await this.backing.close();
    }
  }
}

function push(out: Extent[], x: Extent): void {
  const last = out[out.length - 1];
  if (
    last &&
    last.data === x.data &&
    last.zero === x.zero &&
    last.present === x.present &&
    last.depth === x.depth &&
    last.offset + last.length === x.offset &&
    last.hostFile === x.hostFile &&
    (last.hostOffset === undefined) === (x.hostOffset === undefined) &&
    (last.hostOffset === undefined || last.hostOffset + last.length === x.hostOffset)
  ) {
    last.length += x.length;
    return;
  }
  out.push(x);
}
