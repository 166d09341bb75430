/**
 * The stream-optimized writer: fills an empty streamOptimized extent front to back, in the
 * layout of Virtual Disk Format 1.1, "Stream-Optimized Compressed Sparse Extents" (what OVA
 * files carry and VMware and qemu-img read):
 *
 *   header (gdOffset = GD_AT_END) | embedded descriptor | ... up to overHead
 *   grain marker + deflated grain, ...        in increasing LBA order, all-zero grains left out
 *   GT marker + grain table                   after the grains it maps (tables without grains
 *                                             are left out: their directory entry stays 0)
 *   ... more grains and tables ...
 *   GD marker + grain directory
 *   footer marker + footer (the header with the real gdOffset)
 *   end-of-stream marker (an all-zero sector)
 *
 * Writes must come in increasing guest order. The grain being written is held in memory until a
 * write moves past it (so sequential writes smaller than a grain work); a write that reaches back
 * to a grain already written is refused with NOT_SUPPORTED. Reads, block status and write zeroes
 * see the data written so far.
 *
 * Nothing in the file changes until the first grain with data is finished: then the header is
 * rewritten for a footer (gdOffset = GD_AT_END, no redundant directory) and the file is cut at
 * overHead, dropping what an empty image had there (qemu-img's preallocated tables, or our own
 * empty directory and footer). `close` writes the last grain, the last table, the directory,
 * footer and end-of-stream marker. Until then the image has no footer: a stream that is never
 * closed (a crash) cannot be opened, and says so, like any truncated stream.
 */
import { appendExtent, type Extent, type HostFile, type ZeroOptions } from '../../block/index.js';
import { BlockError, isZero, Mutex } from '../../util/index.js';
import { compressGrain, readCompressedGrain } from './compressed-grain.js';
import type { DiskExtent, ExtentInfo } from './extent.js';
import { encodeEntries, type GrainGeometry } from './grain-table.js';
import { decodeMarker, encodeMetadataMarker } from './markers.js';
import { encodeSparseHeader, FLAGS, SECTOR, type SparseHeader } from './sparse-header.js';
import type { OpenedSparse } from './sparse-open.js';

/** True when a stream-optimized extent holds no grain yet (the writer may take it over). */
export async function isEmptyStream(file: HostFile, o: OpenedSparse): Promise<boolean> {
  if (o.gd.some((e) => e !== 0) && !o.header.gdAtEnd) {
    // qemu-img's layout: preallocated tables before overHead; grains would follow it.
    return file.size <= o.header.overHead * SECTOR;
  }
  const at = o.header.overHead * SECTOR;
  if (at >= file.size) return true;
  const head = Buffer.alloc(16);
  await file.pread(at, head);
  const k = decodeMarker(head).kind;
  return k === 'eos' || k === 'gd' || k === 'footer';
}

export class StreamWriter implements DiskExtent {
  readonly grainBytes: number;
  private readonly g: GrainGeometry;
  private readonly gd: Uint32Array;
  /** Grain tables with at least one grain: written ones and the one being filled. */
  private readonly tables = new Map<number, Uint32Array>();
  private currentTable: number | undefined;
  private pending: { grain: number; buf: Buffer } | undefined;
  /** Grains below this are final: written, or left out as zero. */
  private nextGrain = 0;
  private appendAt: number;
  private started = false;
  private closed = false;
  private readonly lock = new Mutex();

  private readonly header: SparseHeader;

  constructor(
    readonly file: HostFile,
    o: OpenedSparse,
    readonly size: number,
  ) {
    this.header = o.header;
    this.g = o.geometry;
    this.grainBytes = this.g.grainBytes;
    this.gd = new Uint32Array(this.g.gdEntries);
    const h = o.header;
    this.appendAt = Math.max(h.overHead, h.descriptorOffset + h.descriptorSize, 1) * SECTOR;
  }

  private get grainSectors(): number {
    return this.header.grainSize;
  }

  private refuse(offset: number): never {
    throw new BlockError(
      'NOT_SUPPORTED',
      `streamOptimized images are written sequentially: offset ${offset} is before the data already written ` +
        `(up to ${this.nextGrain * this.grainBytes})`,
    );
  }

  async write(offset: number, data: Buffer): Promise<void> {
    await this.lock.run(async () => {
      if (this.closed) throw new BlockError('IO', `${this.file.path} is closed`);
      const gb = this.grainBytes;
      for (let done = 0; done < data.length;) {
        const pos = offset + done;
        const grain = Math.floor(pos / gb);
        const within = pos - grain * gb;
        const n = Math.min(gb - within, data.length - done);
        if (this.pending?.grain !== grain) {
          if (grain < this.nextGrain) this.refuse(pos);
          if (this.pending) await this.finishGrain(this.pending);
          this.pending = { grain, buf: Buffer.alloc(gb) };
          this.nextGrain = grain + 1;
        }
        data.copy(this.pending.buf, within, done, done + n);
        done += n;
      }
    });
  }

  /** Ranges not yet written read as zero already; only the grain in memory needs clearing. */
  async zero(offset: number, length: number, _opts: ZeroOptions): Promise<void> {
    await this.lock.run(async () => {
      const gb = this.grainBytes;
      for (let done = 0; done < length;) {
        const pos = offset + done;
        const grain = Math.floor(pos / gb);
        const within = pos - grain * gb;
        const n = Math.min(gb - within, length - done);
        if (this.pending?.grain === grain) this.pending.buf.fill(0, within, within + n);
        else if (grain < this.nextGrain && this.entry(grain) !== 0) this.refuse(pos);
        done += n;
      }
    });
  }

  private entry(grain: number): number {
    return this.tables.get(Math.floor(grain / this.g.gtEntries))?.[grain % this.g.gtEntries] ?? 0;
  }

  async read(offset: number, buf: Buffer): Promise<void> {
    await this.lock.run(async () => {
      const gb = this.grainBytes;
      for (let done = 0; done < buf.length;) {
        const pos = offset + done;
        const grain = Math.floor(pos / gb);
        const within = pos - grain * gb;
        const n = Math.min(gb - within, buf.length - done);
        const sector = this.entry(grain);
        if (this.pending?.grain === grain) {
          this.pending.buf.copy(buf, done, within, within + n);
        } else if (sector) {
          const need = Math.min(gb, this.size - grain * gb);
          const r = await readCompressedGrain(this.file, sector, grain * this.grainSectors, gb, need);
          if (!r.grain) throw new BlockError('CORRUPT', `VMDK extent ${this.file.path}: ${r.reason}`);
          r.grain.copy(buf, done, within, within + n);
        } else {
          buf.fill(0, done, done + n);
        }
        done += n;
      }
    });
  }

  async status(offset: number, length: number): Promise<Extent[]> {
    const out: Extent[] = [];
    const gb = this.grainBytes;
    for (let done = 0; done < length;) {
      const pos = offset + done;
      const grain = Math.floor(pos / gb);
      const n = Math.min(gb - (pos - grain * gb), length - done);
      const data = this.pending?.grain === grain || this.entry(grain) !== 0;
      appendExtent(out, { offset: pos, length: n, depth: 0, data, zero: !data, present: data });
      done += n;
    }
    return out;
  }

  /** Rewrites the header for a footer and cuts the file at overHead (first grain only). */
  private async start(): Promise<void> {
    if (this.started) return;
    const h: SparseHeader = { ...this.header, gdAtEnd: true, gdOffset: 0, rgdOffset: 0 };
    h.flags = (h.flags & ~FLAGS.REDUNDANT_GT) | FLAGS.COMPRESSED | FLAGS.MARKERS;
    await this.file.pwrite(0, encodeSparseHeader(h));
    await this.file.truncate(this.appendAt);
    this.started = true;
  }

  private async append(data: Buffer): Promise<number> {
    const at = this.appendAt;
    await this.file.pwrite(at, data);
    this.appendAt += data.length;
    return at / SECTOR;
  }

  private async finishGrain(p: { grain: number; buf: Buffer }): Promise<void> {
    const gb = this.grainBytes;
    const data = p.buf.subarray(0, Math.min(gb, this.size - p.grain * gb));
    if (isZero(data)) return;
    await this.start();
    const ti = Math.floor(p.grain / this.g.gtEntries);
    if (this.currentTable !== undefined && this.currentTable !== ti) await this.writeTable(this.currentTable);
    this.currentTable = ti;
    let t = this.tables.get(ti);
    if (!t) this.tables.set(ti, (t = new Uint32Array(this.g.gtEntries)));
    t[p.grain % this.g.gtEntries] = await this.append(compressGrain(p.grain * this.grainSectors, data));
  }

  private async writeTable(ti: number): Promise<void> {
    await this.append(encodeMetadataMarker('gt', this.g.tableBytes / SECTOR));
    this.gd[ti] = await this.append(
      encodeEntries(this.tables.get(ti)!, 0, this.g.gtEntries, this.g.tableBytes),
    );
    this.currentTable = undefined;
  }

  /** Writes what is left: last grain and table, directory, footer, end-of-stream marker. */
  private async finish(): Promise<void> {
    if (this.pending) await this.finishGrain(this.pending);
    this.pending = undefined;
    if (!this.started) return; // nothing but zeroes: the empty image stays as it is
    if (this.currentTable !== undefined) await this.writeTable(this.currentTable);
    await this.append(encodeMetadataMarker('gd', this.g.gdBytes / SECTOR));
    const gdSector = await this.append(encodeEntries(this.gd, 0, this.gd.length, this.g.gdBytes));
    await this.append(encodeMetadataMarker('footer', 1));
    const footer: SparseHeader = { ...this.header, gdAtEnd: false, gdOffset: gdSector, rgdOffset: 0 };
    footer.flags = (footer.flags & ~FLAGS.REDUNDANT_GT) | FLAGS.COMPRESSED | FLAGS.MARKERS;
    await this.append(encodeSparseHeader(footer));
    await this.append(encodeMetadataMarker('eos', 0));
    await this.file.truncate(this.appendAt);
    await this.file.flush();
  }

  flush(): Promise<void> {
    return this.file.flush();
  }

  async close(): Promise<void> {
    await this.lock.run(async () => {
      if (this.closed) return;
      this.closed = true;
      try {
        await this.finish();
      } finally {
        await this.file.close();
      }
    });
  }

  info(): ExtentInfo {
    return {
      filename: this.file.path,
      format: '',
      'virtual-size': this.size,
      'cluster-size': this.grainBytes,
      compressed: true,
    };
  }
}
