/**
 * qcow2 block status, as qemu reports it (qemu-img map's fields): per cluster, or per subcluster
 * with extended L2 entries; unallocated ranges are answered by the backing chain one level deeper;
 * allocated data is split at host-file holes only when the image looks metadata-preallocated
 * (qemu's own guess). Takes the guest range shared, like a read.
 */
import { alignDown, alignUp, RangeLock } from '../../util/index.js';
import { appendExtent, checkRange, type Extent } from '../../block/index.js';
import type { Image } from '../image.js';
import type { ClusterMap } from './cluster-map.js';
import { subclusterRuns } from './entries.js';
import type { Refcounts } from './refcounts.js';
import type { Qcow2State } from './state.js';

export class BlockStatusReader {
  /** qemu's metadata-preallocation guess, made once at the first block status query. */
  private preallocated: boolean | undefined;

  constructor(
    private readonly s: Qcow2State,
    private readonly rc: Refcounts,
    private readonly map: ClusterMap,
    private readonly backingOf: () => Image | undefined,
    private readonly guest: RangeLock,
  ) {}

  private get backing(): Image | undefined {
    return this.backingOf();
  }

  get size(): number {
    return this.s.header.size;
  }

  private get filename(): string {
    return this.s.file.path;
  }

  async blockStatus(offset: number, length: number): Promise<Extent[]> {
    checkRange(this, offset, length);
    const out: Extent[] = [];
    if (length === 0) return out;
    const cs = this.s.clusterSize;
    const release = await this.guest.acquire(alignDown(offset, cs), alignUp(offset + length, cs), false);
    try {
      const end = offset + length;
      const last = Math.floor((end - 1) / cs); // the last cluster in range
      let pos = offset;
      while (pos < end) {
        const gc = Math.floor(pos / cs);
        const within = pos - gc * cs;
        const n = Math.min(cs - within, end - pos);
        const e = this.map.entryNow(gc) ?? (await this.map.entry(gc));
        switch (e.kind) {
          case 'normal': {
            // One host query for the whole host-contiguous run.
            const r = this.map.runEnd(e, gc, last);
            const m = Math.min(end, (typeof r === 'number' ? r : await r) * cs) - pos;
            for (const x of await this.hostStatus(pos, m, e.hostOffset + within)) appendExtent(out, x);
            pos += m;
            continue;
          }
          case 'compressed':
            appendExtent(out, { offset: pos, length: n, data: true, zero: false, present: true, depth: 0 });
            break;
          case 'zero': {
            const x: Extent = { offset: pos, length: n, data: false, zero: true, present: true, depth: 0 };
            if (e.hostOffset) {
              x.hostOffset = e.hostOffset + within;
              x.hostFile = this.filename;
            }
            appendExtent(out, x);
            break;
          }
          case 'partial':
            for (const [a, b, state] of subclusterRuns(e, this.s.subclusterSize, within, within + n)) {
              const at = gc * cs + a;
              if (state === 'data') {
                for (const x of await this.hostStatus(at, b - a, e.hostOffset + a)) appendExtent(out, x);
              } else if (state === 'zero') {
                const x: Extent = {
                  offset: at,
                  length: b - a,
                  data: false,
                  zero: true,
                  present: true,
                  depth: 0,
                };
                if (e.hostOffset) {
                  x.hostOffset = e.hostOffset + a;
                  x.hostFile = this.filename;
                }
                appendExtent(out, x);
              } else {
                for (const x of await this.backingStatus(at, b - a)) appendExtent(out, x);
              }
            }
            break;
          case 'unallocated': {
            const r = this.map.runEnd(e, gc, last);
            const m = Math.min(end, (typeof r === 'number' ? r : await r) * cs) - pos;
            for (const x of await this.backingStatus(pos, m)) appendExtent(out, x);
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
    if (!(await this.looksPreallocated()))
      return [{ ...base, offset: pos, length: n, zero: false, hostOffset: host }];
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

  /**
   * qemu looks for host holes under allocated clusters only when the image looks
   * metadata-preallocated: clusters in use outnumber the host file's allocated clusters
   * (at least max(real * 10/9, real + 2)).
   */
  private async looksPreallocated(): Promise<boolean> {
    if (this.preallocated === undefined) {
      const real = Math.floor(this.s.file.allocatedBytes() / this.s.clusterSize);
      const threshold = Math.max(Math.floor((real * 10) / 9), real + 2);
      this.preallocated = (await this.rc.countInUse()) >= threshold;
    }
    return this.preallocated;
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
}
