/**
 * What every image format driver offers on top of BlockDevice: its identity, its backing chain,
 * resizing, and the facts `vdisk img info` prints.
 */
import type { AioMode, BlockDevice, CacheMode } from '../block/index.js';

export const IMAGE_FORMATS = ['raw', 'qcow2', 'vmdk'] as const;
export type ImageFormat = (typeof IMAGE_FORMATS)[number];

export interface ResizeOptions {
  /** Shrinking must be asked for explicitly (qemu-img's --shrink). */
  shrink?: boolean;
  prealloc?: 'off' | 'metadata' | 'falloc' | 'full';
}

/** `vdisk img info` fields, named as in qemu-img's JSON output. */
export interface ImageInfo {
  filename: string;
  format: ImageFormat;
  'virtual-size': number;
  'actual-size': number;
  'cluster-size'?: number;
  'backing-filename'?: string;
  'full-backing-filename'?: string;
  'backing-filename-format'?: string;
  'dirty-flag': boolean;
  'format-specific'?: { type: string; data: Record<string, unknown> };
  /** Internal snapshots, with qemu-img's field names. */
  snapshots?: SnapshotJson[];
}

export interface SnapshotJson {
  id: string;
  name: string;
  'vm-state-size': number;
  'date-sec': number;
  'date-nsec': number;
  'vm-clock-sec': number;
  'vm-clock-nsec': number;
  /** Absent when not recorded. */
  icount?: number;
}

export interface Image extends BlockDevice {
  readonly format: ImageFormat;
  readonly filename: string;
  /** The backing image, opened read-only, when the format has one. */
  readonly backing: Image | undefined;
  resize(size: number, opts?: ResizeOptions): Promise<void>;
  info(): Promise<ImageInfo>;
}

export interface OpenImageOptions {
  /** Format name; probed from the file's first bytes when absent. */
  format?: ImageFormat;
  readOnly?: boolean;
  cache?: CacheMode;
  /** The host I/O engine, QEMU's aio= (threads, io_uring, native); backing files use the same. */
  aio?: AioMode;
  /** Open the backing chain (default true). Without it, unallocated ranges read as zeroes. */
  openBacking?: boolean;
  /** Take image locks (default true). */
  lock?: boolean;
  /** Readahead on the image's files (HostFileOptions.readahead); backing files follow. */
  readahead?: boolean;
  /** Buffered writes on the calling thread (HostFileOptions.writesOnLoop); for img convert's target. */
  writesOnLoop?: boolean;
  /**
   * Open an image marked corrupt read-write, for repair only (qemu-img check -r). Data writes
   * are still refused until the repair has cleared the corrupt bit.
   */
  forRepair?: boolean;
}

export interface CreateImageOptions {
  format: ImageFormat;
  /** Virtual size; may be omitted with a backing file (then the backing file's size is used). */
  size?: number;
  backingFile?: string;
  backingFormat?: ImageFormat;
  /** Format options, as in `-o key=value,...`. */
  options?: Record<string, string>;
}

/** `vdisk img check` result, with qemu-img's JSON field names. */
export interface CheckReport {
  filename: string;
  format: ImageFormat;
  'check-errors': number;
  /** Clusters referenced more often than their refcount says (or other corruption). */
  corruptions: number;
  /** Clusters with a refcount higher than their references. */
  leaks: number;
  'corruptions-fixed'?: number;
  'leaks-fixed'?: number;
  'image-end-offset'?: number;
  'total-clusters'?: number;
  'allocated-clusters'?: number;
  'fragmented-clusters'?: number;
  'compressed-clusters'?: number;
  /** One line per problem found, in qemu-img's words where it has them. */
  messages: string[];
}

export interface CheckOptions {
  format?: ImageFormat;
  /** Repair leaks, or everything repairable. */
  repair?: 'leaks' | 'all';
}
