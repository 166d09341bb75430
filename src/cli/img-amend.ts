/**
 * `vdisk img amend`: change the options of an existing image in place, as `qemu-img amend`.
 *
 * qcow2 only, and only what can change without rewriting the image's layout: `compat` (0.10
 * or 1.1, up- and downgrade) and `lazy_refcounts` (on/off). The engine refuses every other
 * option by name. The image is opened with its backing chain, because a downgrade to 0.10 has
 * to turn zero clusters into something a v2 reader understands, which depends on whether a
 * backing file would show through. Prints nothing on success, like qemu-img.
 */
import type { CacheMode } from '../block/index.js';
import { openImage, type ImageFormat } from '../formats/index.js';
import { UsageError } from '../util/index.js';
import { parseOptionString } from './args.js';
import { asQcow2 } from './qcow2-ops.js';

export interface AmendOptions {
  format?: ImageFormat;
  options?: string[];
  cache?: CacheMode;
  quiet?: boolean;
}

export async function imgAmend(file: string, opts: AmendOptions): Promise<number> {
  if (!opts.options?.length) throw new UsageError('Must specify options (-o)');
  const options: Record<string, string> = {};
  for (const o of opts.options) Object.assign(options, parseOptionString(o));
  const image = await openImage(file, { format: opts.format, cache: opts.cache ?? 'writeback' });
  try {
    await asQcow2(image, 'amend').amend(options);
  } finally {
    await image.close();
  }
  return 0;
}
