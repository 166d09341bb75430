/**
 * One extent of a VMDK disk: a contiguous run of guest sectors stored one way. The image
 * (vmdk.ts) maps guest offsets onto its extents in descriptor order and calls these with
 * extent-relative offsets that it has already checked against the extent's size. Locking is the
 * image's job too: an extent may assume that no two overlapping requests reach it at once.
 *
 * The simple kinds live here:
 *   FlatExtent      FLAT / VMFS / VMFSRAW / VMFSRDM: bytes at a fixed offset of a plain file.
 *   ZeroExtent      ZERO: reads zeroes, stores nothing.
 *   NoAccessExtent  access NOACCESS: the descriptor forbids touching the data.
 * Sparse extents (sparse-extent.ts) and the stream-optimized writer (stream-writer.ts) implement
 * the same interface.
 */
import type { Extent, HostFile, ZeroOptions } from '../../block/index.js';
import { BlockError } from '../../util/index.js';
import type { ExtentAccess } from './descriptor.js';

/** qemu-img info's per-extent fields ("format-specific" -> "extents"). */
export interface ExtentInfo {
  filename: string;
  format: string;
  'virtual-size': number;
  'cluster-size'?: number;
  compressed?: boolean;
}

export interface DiskExtent {
  /** Guest bytes this extent covers. */
  readonly size: number;
  /** The extent file, when there is one. */
  readonly file: HostFile | undefined;
  /** Grain size of a sparse extent (qemu's cluster size); undefined for the others. */
  readonly grainBytes: number | undefined;
  read(offset: number, buf: Buffer): Promise<void>;
  write(offset: number, data: Buffer): Promise<void>;
  /** Makes [offset, offset+length) read as zeroes without allocating. */
  zero(offset: number, length: number, opts: ZeroOptions): Promise<void>;
  /** Allocation state of the range, with extent-relative offsets. */
  status(offset: number, length: number): Promise<Extent[]>;
  flush(): Promise<void>;
  close(): Promise<void>;
  info(): ExtentInfo;
}

export function refuseWrite(access: ExtentAccess, name: string): void {
  if (access === 'RDONLY') throw new BlockError('READ_ONLY', `extent ${name} is read-only (RDONLY)`);
  if (access === 'NOACCESS') throw new BlockError('IO', `extent ${name} is not accessible (NOACCESS)`);
}

export class FlatExtent implements DiskExtent {
  readonly grainBytes = undefined;

  constructor(
    readonly file: HostFile,
    /** Byte offset of the extent's first sector in the file. */
    private readonly start: number,
    readonly size: number,
    private readonly access: ExtentAccess,
    private readonly type: string,
  ) {}

  read(offset: number, buf: Buffer): Promise<void> {
    return this.file.pread(this.start + offset, buf);
  }

  async write(offset: number, data: Buffer): Promise<void> {
    refuseWrite(this.access, this.file.path);
    await this.file.pwrite(this.start + offset, data);
  }

  async zero(offset: number, length: number, opts: ZeroOptions): Promise<void> {
    refuseWrite(this.access, this.file.path);
    await this.file.zeroRange(this.start + offset, length, { mayUnmap: opts.mayUnmap, fast: opts.fast });
  }

  /** As qemu reports flat extents: present data, zero where the host file has a hole. */
  async status(offset: number, length: number): Promise<Extent[]> {
    const host = this.start + offset;
    const within = Math.max(0, Math.min(length, this.file.size - host));
    const out: Extent[] = [];
    const base = { present: true, depth: 0, data: true, hostFile: this.file.path };
    if (within > 0) {
      for (const h of await this.file.blockStatus(host, within)) {
        out.push({
          ...base,
          offset: h.offset - this.start,
          length: h.length,
          zero: !h.data,
          hostOffset: h.offset,
        });
      }
    }
    if (within < length) {
      out.push({
        ...base,
        offset: offset + within,
        length: length - within,
        zero: true,
        hostOffset: host + within,
      });
    }
    return out;
  }

  flush(): Promise<void> {
    return this.file.flush();
  }

  close(): Promise<void> {
    return this.file.close();
  }

  info(): ExtentInfo {
    return { filename: this.file.path, format: this.type, 'virtual-size': this.size };
  }
}

export class ZeroExtent implements DiskExtent {
  readonly file = undefined;
  readonly grainBytes = undefined;

  constructor(
    readonly size: number,
    private readonly access: ExtentAccess,
  ) {}

  async read(_offset: number, buf: Buffer): Promise<void> {
    buf.fill(0);
  }

  async write(): Promise<void> {
    refuseWrite(this.access, 'ZERO');
    throw new BlockError('NOT_SUPPORTED', 'a ZERO extent cannot store data');
  }

  async zero(): Promise<void> {
    refuseWrite(this.access, 'ZERO');
  }

  async status(offset: number, length: number): Promise<Extent[]> {
    return [{ offset, length, data: false, zero: true, present: true, depth: 0 }];
  }

  async flush(): Promise<void> {}

  async close(): Promise<void> {}

  info(): ExtentInfo {
    return { filename: '', format: 'ZERO', 'virtual-size': this.size };
  }
}

export class NoAccessExtent implements DiskExtent {
  readonly file = undefined;
  readonly grainBytes = undefined;

  constructor(
    readonly size: number,
    private readonly name: string,
    private readonly type: string,
  ) {}

  private refuse(): never {
    throw new BlockError('IO', `extent ${this.name} is not accessible (NOACCESS)`);
  }

  async read(): Promise<void> {
    this.refuse();
  }

  async write(): Promise<void> {
    this.refuse();
  }

  async zero(): Promise<void> {
    this.refuse();
  }

  /** Nothing is known about the data: neither data nor zero. */
  async status(offset: number, length: number): Promise<Extent[]> {
    return [{ offset, length, data: false, zero: false, present: true, depth: 0 }];
  }

  async flush(): Promise<void> {}

  async close(): Promise<void> {}

  info(): ExtentInfo {
    return { filename: this.name, format: this.type, 'virtual-size': this.size };
  }
}
