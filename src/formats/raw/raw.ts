/**
 * The raw format: guest offset = host offset. Discard punches holes, write zeroes uses
 * fallocate, block status follows the file's holes (SEEK_DATA / SEEK_HOLE).
 */
import fs from 'node:fs';
import {
  checkWritable,
  HostFile,
  type BlockCaps,
  type Extent,
  type HostReadSource,
  type WriteOptions,
  type ZeroOptions,
} from '../../block/index.js';
import { BlockError, fromSystemError } from '../../util/index.js';
import type { Image, ImageInfo, OpenImageOptions, ResizeOptions } from '../image.js';

export class RawImage implements Image {
  readonly format = 'raw' as const;
  readonly backing = undefined;
  readonly caps: BlockCaps;

  private constructor(private readonly file: HostFile) {
    this.caps = file.caps;
  }

  static async open(path: string, opts: OpenImageOptions = {}): Promise<RawImage> {
    const file = await HostFile.open(path, {
      readOnly: opts.readOnly ?? false,
      cache: opts.cache ?? 'writeback',
      ...(opts.aio ? { aio: opts.aio } : {}),
      lock: opts.lock ?? true,
      readahead: opts.readahead ?? true,
      writesOnLoop: opts.writesOnLoop ?? false,
    });
    return new RawImage(file);
  }

  /** Creates a raw image of `size` bytes with the given preallocation. */
  static async create(path: string, size: number, prealloc: string = 'off'): Promise<void> {
    if (!['off', 'falloc', 'full'].includes(prealloc)) {
      throw new BlockError(
        'INVALID',
        `invalid preallocation mode '${prealloc}' for raw: use off, falloc or full`,
      );
    }
    try {
      fs.writeFileSync(path, '');
    } catch (err) {
      throw fromSystemError(err, `cannot create ${path}`);
    }
    const file = await HostFile.open(path, {});
    try {
      await file.truncate(size, prealloc as 'off' | 'falloc' | 'full');
    } finally {
      await file.close();
    }
  }

  get filename(): string {
    return this.file.path;
  }

  get size(): number {
    return this.file.size;
  }

  read(offset: number, buf: Buffer): Promise<void> {
    return this.file.read(offset, buf);
  }

  write(offset: number, data: Buffer, opts?: WriteOptions): Promise<void> {
    return this.file.write(offset, data, opts);
  }

  readSource(offset: number, length: number): HostReadSource | undefined {
    return this.file.readSource(offset, length);
  }

  flush(): Promise<void> {
    return this.file.flush();
  }

  discard(offset: number, length: number): Promise<void> {
    return this.file.discard(offset, length);
  }

  writeZeroes(offset: number, length: number, opts?: ZeroOptions): Promise<void> {
    return this.file.writeZeroes(offset, length, opts);
  }

  blockStatus(offset: number, length: number): Promise<Extent[]> {
    return this.file.blockStatus(offset, length);
  }

  async resize(size: number, opts: ResizeOptions = {}): Promise<void> {
    checkWritable(this);
    if (!Number.isSafeInteger(size) || size < 0) throw new BlockError('INVALID', `invalid size ${size}`);
    if (size < this.size && !opts.shrink) {
      throw new BlockError('INVALID', 'shrinking an image loses data at its end: use --shrink to confirm');
    }
    const prealloc = opts.prealloc === 'metadata' ? 'off' : (opts.prealloc ?? 'off');
    await this.file.truncate(size, prealloc);
  }

  async info(): Promise<ImageInfo> {
    return {
      filename: this.filename,
      format: 'raw',
      'virtual-size': this.size,
      'actual-size': this.file.allocatedBytes(),
      'dirty-flag': false,
    };
  }

  async close(): Promise<void> {
    await this.file.close();
  }
}
