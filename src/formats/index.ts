/**
 * formats: image files as BlockDevices. `openImage` probes the format and opens the backing
 * chain; `createImage` writes a new image.
 */
import fs from 'node:fs';
import { BlockError, fromSystemError } from '../util/index.js';
import { RawImage } from './raw/index.js';
import { Qcow2Image, QCOW2_MAGIC } from './qcow2/index.js';
import type {
  CheckOptions,
  CheckReport,
  CreateImageOptions,
  Image,
  ImageFormat,
  OpenImageOptions,
} from './image.js';

export * from './image.js';
export { RawImage } from './raw/index.js';
export * from './qcow2/index.js';
export type { VmdkImage } from './vmdk/index.js';

/**
 * The vmdk driver is imported when an image needs it: its modules (and their disk reads, on a
 * cold start) are half of what a command that only touches raw and qcow2 images would load.
 */
const vmdk = async (): Promise<typeof import('./vmdk/index.js')> => import('./vmdk/index.js');

/** Reads the first bytes of a file and names its format (raw when nothing else matches). */
export function probeFormat(path: string): ImageFormat {
  let fd: number;
  try {
    fd = fs.openSync(path, 'r');
  } catch (err) {
    throw fromSystemError(err, `cannot open ${path}`);
  }
  try {
    const head = Buffer.alloc(21);
    const n = fs.readSync(fd, head, 0, head.length, 0);
    if (n >= 4 && head.readUInt32BE(0) === QCOW2_MAGIC) return 'qcow2';
    // VMDK: a sparse extent ('KDMV'), or a text descriptor.
    if (n >= 4 && head.toString('latin1', 0, 4) === 'KDMV') return 'vmdk';
    if (head.toString('latin1', 0, n) === '# Disk DescriptorFile') return 'vmdk';
    return 'raw';
  } finally {
    fs.closeSync(fd);
  }
}

export async function openImage(path: string, opts: OpenImageOptions = {}): Promise<Image> {
  const format = opts.format ?? probeFormat(path);
  switch (format) {
    case 'raw':
      return RawImage.open(path, opts);
    case 'qcow2':
      return Qcow2Image.open(path, opts, openImage);
    case 'vmdk':
      return (await vmdk()).VmdkImage.open(path, opts);
  }
}

export async function createImage(path: string, opts: CreateImageOptions): Promise<void> {
  const options = { ...(opts.options ?? {}) };
  switch (opts.format) {
    case 'raw': {
      if (opts.backingFile) throw new BlockError('INVALID', "format 'raw' does not support backing files");
      if (opts.size === undefined) throw new BlockError('INVALID', 'an image size is required');
      const prealloc = options['preallocation'] ?? 'off';
      delete options['preallocation'];
      const extra = Object.keys(options);
      if (extra.length) throw new BlockError('INVALID', `invalid option '${extra[0]}' for format 'raw'`);
      return RawImage.create(path, opts.size, prealloc);
    }
    case 'qcow2':
      return Qcow2Image.create(path, opts, openImage);
    case 'vmdk':
      return (await vmdk()).VmdkImage.create(path, opts);
  }
}

/**
 * Checks an image's metadata (qemu-img check). Formats without metadata to check answer with
 * NOT_SUPPORTED ("This image format does not support checks" in the CLI).
 */
export async function checkImage(path: string, opts: CheckOptions = {}): Promise<CheckReport> {
  const format = opts.format ?? probeFormat(path);
  if (format !== 'qcow2') throw new BlockError('NOT_SUPPORTED', 'This image format does not support checks');
  const img = await Qcow2Image.open(path, {
    readOnly: !opts.repair,
    openBacking: false,
    forRepair: !!opts.repair,
  });
  try {
    return await img.check(opts);
  } finally {
    await img.close();
  }
}
