/**
 * `vdisk img create`: a new image, as `qemu-img create` makes it.
 *
 * `-o` strings are merged left to right (a later key wins), and the generic keys qemu-img
 * accepts there (size, backing_file, backing_fmt) are lifted into their own fields; the
 * positional SIZE and -b/-F take precedence over them, as in qemu-img. Everything else is
 * passed to the format driver, which rejects what it does not know.
 *
 * A backing file is named relative to the new image's directory (QEMU's rule). Like qemu-img
 * 7.2, a backing file needs its format (-F): probing a backing file is how a raw backing file
 * gets misread as something else. Without a size, the backing file's size is used; it is
 * opened read-only without taking its lock (a running VM may own it), unless -u says not to
 * open it at all.
 */
import path from 'node:path';
import { createImage, openImage, probeFormat, type ImageFormat } from '../formats/index.js';
import { parseSize, UsageError } from '../util/index.js';
import { parseFormat, parseOptionString } from './args.js';
import { print } from './output.js';

export interface CreateOptions {
  format?: string;
  backing?: string;
  backingFormat?: string;
  options?: string[];
  unsafe?: boolean;
  quiet?: boolean;
}

export async function imgCreate(
  file: string,
  sizeText: string | undefined,
  opts: CreateOptions,
): Promise<number> {
  const format = parseFormat(opts.format ?? 'raw');
  const options: Record<string, string> = {};
  for (const o of opts.options ?? []) Object.assign(options, parseOptionString(o));
  const take = (key: string): string | undefined => {
    const v = options[key];
    delete options[key];
    return v;
  };
  const sizeOpt = take('size');
  const backingOpt = take('backing_file');
  const backingFmtOpt = take('backing_fmt');
  const backingFile = opts.backing ?? backingOpt;
  const backingFmtText = opts.backingFormat ?? backingFmtOpt;
  let size =
    sizeText !== undefined ? parseSize(sizeText) : sizeOpt !== undefined ? parseSize(sizeOpt) : undefined;

  let backingFormat: ImageFormat | undefined;
  if (backingFmtText !== undefined) backingFormat = parseFormat(backingFmtText);
  if (backingFile === undefined && backingFormat !== undefined) {
    throw new UsageError('a backing format (-F) was given without a backing file (-b)');
  }
  if (backingFile !== undefined) {
    const backingPath = path.resolve(path.dirname(file), backingFile);
    if (backingFormat === undefined) {
      let hint = '';
      try {
        const probed = probeFormat(backingPath);
        hint = ` (it looks like ${probed}: add -F ${probed})`;
      } catch {
        // The backing file cannot be read: the plain message is all we can say.
      }
      throw new UsageError(`backing file specified without backing format${hint}`);
    }
    if (size === undefined) {
      if (opts.unsafe)
        throw new UsageError('an image size is required with -u (the backing file is not opened)');
      const backing = await openImage(backingPath, {
        format: backingFormat,
        readOnly: true,
        lock: false,
        openBacking: false,
      });
      try {
        size = backing.size;
      } finally {
        await backing.close();
      }
    }
  }
  if (size === undefined) throw new UsageError('an image size is required: vdisk img create FILE SIZE');

  if (!opts.quiet) print(formattingLine(file, format, size, backingFile, backingFormat, options) + '\n');
  await createImage(file, { format, size, backingFile, backingFormat, options });
  return 0;
}

/** Options qemu-img shows for a format, in its order, with its defaults where it has them. */
const SHOWN: Record<ImageFormat, Array<[string, string | undefined]>> = {
  raw: [
    ['size', undefined],
    ['preallocation', undefined],
  ],
  qcow2: [
    ['cluster_size', '65536'],
    ['extended_l2', 'off'],
    ['preallocation', undefined],
    ['compression_type', 'zlib'],
    ['size', undefined],
    ['compat', undefined],
    ['backing_file', undefined],
    ['backing_fmt', undefined],
    ['lazy_refcounts', 'off'],
    ['refcount_bits', '16'],
  ],
  vmdk: [
    ['size', undefined],
    ['adapter_type', undefined],
    ['backing_file', undefined],
    ['backing_fmt', undefined],
    ['compat6', 'off'],
    ['hwversion', 'undefined'],
    ['toolsversion', undefined],
    ['subformat', undefined],
    ['zeroed_grain', undefined],
  ],
};

/** Options whose values qemu-img prints as byte counts. */
const SIZE_OPTIONS = new Set(['cluster_size']);

/** qemu-img's "Formatting 'FILE', fmt=FMT key=value ..." line (approximately: same keys, order). */
export function formattingLine(
  file: string,
  format: ImageFormat,
  size: number,
  backingFile: string | undefined,
  backingFormat: ImageFormat | undefined,
  options: Record<string, string>,
): string {
  const values: Record<string, string | undefined> = { ...options, size: String(size) };
  if (backingFile !== undefined) values['backing_file'] = backingFile;
  if (backingFormat !== undefined) values['backing_fmt'] = backingFormat;
  for (const key of SIZE_OPTIONS) {
    const v = values[key];
    if (v !== undefined) {
      try {
        values[key] = String(parseSize(v));
      } catch {
        // Left as typed: the driver reports the bad value.
      }
    }
  }
  const parts = [`fmt=${format}`];
  const shown = new Set<string>();
  for (const [key, dflt] of SHOWN[format]) {
    shown.add(key);
    const v = values[key] ?? dflt;
    if (v !== undefined) parts.push(`${key}=${v}`);
  }
  for (const [key, v] of Object.entries(values)) {
    if (!shown.has(key) && v !== undefined) parts.push(`${key}=${v}`);
  }
  return `Formatting '${file}', ${parts.join(' ')}`;
}
