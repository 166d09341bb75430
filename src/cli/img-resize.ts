/**
 * `vdisk img resize`: change an image's virtual size, as `qemu-img resize` does.
 *
 * SIZE is absolute, or relative with a leading + or -. Shrinking loses the data past the new
 * end, so it must be confirmed with --shrink; the check is made here, at the edge, before the
 * image is touched, with qemu-img's wording.
 */
import { openImage, type ImageFormat } from '../formats/index.js';
import { parseSize, UsageError } from '../util/index.js';
import type { Preallocation } from './args.js';
import { print } from './output.js';

export interface ResizeCommandOptions {
  format?: ImageFormat;
  shrink?: boolean;
  preallocation?: Preallocation;
  quiet?: boolean;
}

/** Parses "+1G", "-512M" or "10G" against the current size. */
export function newSize(text: string, current: number): number {
  const sign = text[0] === '+' || text[0] === '-' ? text[0] : '';
  const amount = parseSize(sign ? text.slice(1) : text);
  const size = sign === '+' ? current + amount : sign === '-' ? current - amount : amount;
  if (size < 0) throw new UsageError(`new image size ${size} is negative`);
  if (!Number.isSafeInteger(size)) throw new UsageError(`new image size '${text}' is too large`);
  return size;
}

export async function imgResize(file: string, sizeText: string, opts: ResizeCommandOptions): Promise<number> {
  const image = await openImage(file, { format: opts.format });
  try {
    const size = newSize(sizeText, image.size);
    if (size < image.size && !opts.shrink) {
      throw new UsageError(
        'Use the --shrink option to perform a shrink operation: ' +
          "shrinking deletes all data beyond the image's new end",
      );
    }
    await image.resize(size, { shrink: opts.shrink ?? false, prealloc: opts.preallocation });
  } finally {
    await image.close();
  }
  if (!opts.quiet) print('Image resized.\n');
  return 0;
}
