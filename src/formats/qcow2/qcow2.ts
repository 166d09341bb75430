/**
 * The qcow2 driver: opens an image (open.ts), its backing chain and serves it as an Image. The
 * data path lives in data-path.ts; this file holds the image's lifecycle: create, open, flush,
 * resize, preallocation, info, check and close. Resize, preallocation, check and close drain the
 * data path by taking its guest range lock over the whole device.
 */
import path from 'node:path';
import {
  HostFile,
  type BlockCaps,
  type Extent,
  type WriteOptions,
  type ZeroOptions,
} from '../../block/index.js';
import { alignDown, alignUp, BlockError } from '../../util/index.js';
import { IMAGE_FORMATS } from '../image.js';
import type {
  CheckOptions,
  CheckReport,
  CreateImageOptions,
  Image,
  ImageFormat,
  ImageInfo,
  OpenImageOptions,
  ResizeOptions,
  SnapshotJson,
} from '../image.js';
import { checkQcow2 } from './check.js';
import type { ClusterMap } from './cluster-map.js';
import { parseCreateOptions, writeEmptyQcow2 } from './create.js';
import { DataPath, MAX_RUN_BYTES, WHOLE_DEVICE } from './data-path.js';
import { encodeL2Entry } from './entries.js';
import { EXT, type HeaderExtension } from './header-ext.js';
import { COMPAT, INCOMPAT } from './header.js';
import { loadQcow2, type OpenedQcow2 } from './open.js';
import { snapshotInfo, Snapshots, type SnapshotInfo } from './snapshots.js';
import { amendQcow2, setBackingExtensions, writeHeaderArea } from './amend.js';
import type { Refcounts } from './refcounts.js';
import type { Qcow2State } from './state.js';

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
  extensions: HeaderExtension[];
  backingName: string | undefined;
  backingFormatName: string | undefined;
  private opener: ImageOpener | undefined;
  private openOptions: OpenImageOptions = {};
  backing: Image | undefined;
  private readonly dp: DataPath;
  private closed = false;

  private readonly snaps: Snapshots;

  private constructor(o: OpenedQcow2) {
    const { s, rc, map, exts, backingName } = o;
    this.snaps = new Snapshots(s, rc, map, o.snapshots, o.snapshotTableSize);
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
    map.onPressure = () => this.flushMetadataLocked();
    this.dp = new DataPath(
      s,
      rc,
      map,
      () => this.backing,
      () => this.flush(),
    );
  }

  private get guest(): DataPath['guest'] {
    return this.dp.guest;
  }

  read(offset: number, buf: Buffer): Promise<void> {
    return this.dp.read(offset, buf);
  }

  write(offset: number, data: Buffer, opts?: WriteOptions): Promise<void> {
    return this.dp.write(offset, data, opts);
  }

  discard(offset: number, length: number): Promise<void> {
    return this.dp.discard(offset, length);
  }

  writeZeroes(offset: number, length: number, opts?: ZeroOptions): Promise<void> {
    return this.dp.writeZeroes(offset, length, opts);
  }

  blockStatus(offset: number, length: number): Promise<Extent[]> {
    return this.dp.blockStatus(offset, length);
  }

  /** Writes one whole cluster compressed with the image's compression type (convert -c). */
  writeCompressed(offset: number, data: Buffer): Promise<void> {
    return this.dp.writeCompressed(offset, data);
  }

  static async open(file: string, opts: OpenImageOptions = {}, opener?: ImageOpener): Promise<Qcow2Image> {
    const readOnly = opts.readOnly ?? false;
    const hf = await HostFile.open(file, {
      readOnly,
      cache: opts.cache ?? 'writeback',
      ...(opts.aio ? { aio: opts.aio } : {}),
      lock: opts.lock ?? true,
      readahead: opts.readahead ?? true,
      writesOnLoop: opts.writesOnLoop ?? false,
    });
    try {
      const o = await loadQcow2(hf, file, readOnly, opts.forRepair ?? false);
      const img = new Qcow2Image(o);
      img.opener = opener;
      img.openOptions = opts;
      if (!readOnly) await img.prepareWritable();
      if (img.backingName && (opts.openBacking ?? true)) {
        try {
          img.backing = await img.openBackingFile();
        } catch (err) {
          await img.closeFile();
          throw err;
        }
      }
      return img;
    } catch (err) {
      await hf.close().catch(() => undefined);
      throw err;
    }
  }

  private async prepareWritable(): Promise<void> {
    const { s } = this;
    const h = s.header;
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
    if (h.compatibleFeatures & COMPAT.LAZY_REFCOUNTS) this.setLazy(true);
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

  // ---- flush, resize, info, close ----------------------------------------------------------

  async flush(): Promise<void> {
    if (this.s.readOnly) return;
    await this.s.meta.run(() => this.flushMetadataLocked());
    await this.s.file.flush();
  }

  /**
   * Writes the write-back metadata in dependency order (DESIGN.md, crash safety): refcount
   * blocks, sync, then the L2 tables and L1 entries that point at their clusters; then, once
   * those are on disk, the deferred frees, whose clusters only now become reusable. A crash at
   * any point leaves the image consistent (at worst with leaked clusters). Call with `meta` held.
   */
  async flushMetadataLocked(): Promise<void> {
    if (this.map.isDirty) {
      await this.rc.writeDirty();
      await this.s.file.flush();
      await this.map.writeDirty();
    } else if (this.rc.hasDirty) {
      await this.rc.writeDirty();
    }
    if (this.rc.hasPendingFrees) {
      await this.s.file.flush();
      await this.rc.applyPendingFrees();
      await this.rc.writeDirty();
    }
  }

  async resize(size: number, opts: ResizeOptions = {}): Promise<void> {
    this.s.assertWritable();
    if (!Number.isSafeInteger(size) || size < 0) throw new BlockError('INVALID', `invalid size ${size}`);
    // As qemu: it would truncate an unaligned size field when opening the image.
    if (size % 512 !== 0) throw new BlockError('INVALID', 'The new size must be a multiple of 512');
    const old = this.size;
    if (size === old) return;
    if (size < old && this.snaps.entries.length > 0) {
      throw new BlockError('NOT_SUPPORTED', "Can't shrink an image which has snapshots");
    }
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
          await this.flushMetadataLocked();
          const cover = cs * this.s.l2Entries;
          for (let l1i = Math.ceil(size / cover); l1i < this.map.l1Size; l1i++) await this.map.dropTable(l1i);
          this.s.header.size = size;
          await this.s.writeHeaderFields();
        });
        // A partial last cluster keeps stale bytes past the new end; they must not reappear on a
        // later grow, which zeroes them (see the grow path).
      } else {
        await this.s.meta.run(async () => {
          await this.flushMetadataLocked();
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
          else if (host + count * cs > this.s.file.size) await this.s.file.truncate(host + count * cs);
          await this.map.update(first, count, (t, i, x) =>
            encodeL2Entry(t, i, host + (x - first) * cs, true, false, this.s.extL2),
          );
        });
        g = h;
      }
    } finally {
      release();
    }
  }

  /** Lazy refcounts: defer refcount writes, after marking the image dirty once. */
  private setLazy(on: boolean): void {
    const { s } = this;
    this.rc.lazy = on;
    this.rc.beforeFirstLazyUpdate = on
      ? async () => {
          if (!(s.header.incompatibleFeatures & INCOMPAT.DIRTY)) {
            s.header.incompatibleFeatures |= INCOMPAT.DIRTY;
            await s.writeHeaderFields();
          }
        }
      : undefined;
  }

  /** Opens the backing file named in the header, read-only, relative to this image. */
  private async openBackingFile(): Promise<Image> {
    const backingPath = combineBackingPath(this.filename, this.backingName!);
    if (!this.opener) throw new BlockError('NOT_SUPPORTED', 'no opener for backing files');
    const fmt = this.backingFormatName;
    if (fmt && !(IMAGE_FORMATS as readonly string[]).includes(fmt)) {
      throw new BlockError('NOT_SUPPORTED', `backing file format '${fmt}' is not supported yet`);
    }
    try {
      return await this.opener(backingPath, {
        readOnly: true,
        cache: this.openOptions.cache ?? 'writeback',
        ...(this.openOptions.aio ? { aio: this.openOptions.aio } : {}),
        ...(this.openOptions.readahead === false ? { readahead: false } : {}),
        ...(fmt ? { format: fmt as ImageFormat } : {}),
      });
    } catch (err) {
      const e = err as BlockError;
      throw new BlockError(e.code ?? 'IO', `Could not open backing file ${backingPath}: ${e.message}`, {
        cause: err,
      });
    }
  }

  /**
   * Points the image at another backing file (or none) by rewriting the header area, then opens
   * the new backing chain in place of the old one. Data is not copied: that is rebase's job.
   */
  async setBacking(name: string | undefined, format?: string): Promise<void> {
    this.s.assertWritable();
    const release = await this.guest.acquire(0, WHOLE_DEVICE, true);
    try {
      await this.s.meta.run(async () => {
        await this.flushMetadataLocked();
        const area = {
          extensions: setBackingExtensions(this.extensions, name ? format : undefined),
          backingName: name,
        };
        await writeHeaderArea(this.s, area);
        this.extensions = area.extensions;
        this.backingName = name;
        this.backingFormatName = name ? format : undefined;
      });
      const old = this.backing;
      this.backing = undefined;
      if (old) await old.close();
      if (name && this.opener && (this.openOptions.openBacking ?? true)) {
        this.backing = await this.openBackingFile();
      }
    } finally {
      release();
    }
  }

  listSnapshots(): SnapshotInfo[] {
    return this.snaps.entries.map(snapshotInfo);
  }

  createSnapshot(name: string): Promise<void> {
    return this.snapshotOp((sn) => sn.create(name));
  }

  /** Reverts the disk to a snapshot (qemu-img snapshot -a). */
  applySnapshot(nameOrId: string): Promise<void> {
    return this.snapshotOp((sn) => sn.apply(nameOrId));
  }

  deleteSnapshot(nameOrId: string): Promise<void> {
    return this.snapshotOp((sn) => sn.delete(nameOrId));
  }

  /** Runs a snapshot operation on a drained image with every deferred refcount written first. */
  private async snapshotOp(fn: (sn: Snapshots) => Promise<void>): Promise<void> {
    this.s.assertWritable();
    const release = await this.guest.acquire(0, WHOLE_DEVICE, true);
    try {
      await this.s.meta.run(async () => {
        await this.flushMetadataLocked();
        await fn(this.snaps);
        await this.flushMetadataLocked();
      });
      await this.s.file.flush();
    } finally {
      release();
    }
  }

  /** qemu-img amend: compat=0.10|1.1, lazy_refcounts=on|off. */
  async amend(opts: Record<string, string>): Promise<void> {
    this.s.assertWritable();
    const release = await this.guest.acquire(0, WHOLE_DEVICE, true);
    try {
      await this.s.meta.run(async () => {
        await this.flushMetadataLocked();
        const area = { extensions: this.extensions, backingName: this.backingName };
        await amendQcow2(
          {
            s: this.s,
            rc: this.rc,
            map: this.map,
            area,
            hasBacking: !!this.backingName,
            setLazy: (on) => this.setLazy(on),
            flushMeta: () => this.flushMetadataLocked(),
          },
          opts,
        );
        this.extensions = area.extensions;
      });
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
      data['extended-l2'] = this.s.extL2;
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
    if (this.snaps.entries.length > 0) {
      info.snapshots = this.snaps.entries.map((e): SnapshotJson => {
        const sn = snapshotInfo(e);
        // Keys in the order qemu-img prints them.
        const icount =
          sn.icount !== undefined && sn.icount !== 0xffffffffffffffffn ? { icount: Number(sn.icount) } : {};
        return {
          ...icount,
          'vm-clock-nsec': Number(e.vmClockNsec % 1_000_000_000n),
          name: e.name,
          'date-sec': e.dateSec,
          'date-nsec': e.dateNsec,
          'vm-clock-sec': Number(e.vmClockNsec / 1_000_000_000n),
          id: e.id,
          'vm-state-size': sn.vmStateSize,
        };
      });
    }
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
      return await this.s.meta.run(async () => {
        if (!this.s.readOnly) await this.flushMetadataLocked();
        return checkQcow2(this, opts.repair);
      });
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
