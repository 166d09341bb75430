/**
 * `vdisk img measure`: how large a new image would be, as `qemu-img measure` prints it.
 *
 * Either for an empty image of `--size SIZE`, or for converting FILE (read with its whole
 * backing chain) into the output format. "required size" is what a convert needs; "fully
 * allocated size" is the file size once every cluster is written. For qcow2 the metadata is
 * computed exactly as qemu does (measure-qcow2.ts); the data FILE needs is every cluster that
 * holds data anywhere in its chain (zero and unallocated ranges need nothing), and all of it
 * when the new image would have a backing file or full/falloc preallocation.
 *
 * Like qemu-img, the qcow2 output also says "bitmaps size" when the input is a qcow2 v3 image
 * and the output is v3 (persistent dirty bitmaps would be copied). Images that carry bitmaps
 * are refused rather than measured wrongly: the engine does not read bitmaps.
 */
import type { Extent } from '../block/index.js';
import {
  EXT,
  openImage,
  parseCreateOptions,
  Qcow2Image,
  type Image,
  type ImageFormat,
} from '../formats/index.js';
import { alignUp, BlockError, parseSize, UsageError } from '../util/index.js';
import { parseFormat, parseOptionString, type OutputFormat } from './args.js';
import { walkExtents } from './extents.js';
import { measureQcow2, tooLargeForClusterSize } from './measure-qcow2.js';
import { print, printJson } from './output.js';

export interface MeasureOptions {
  size?: string;
  format?: ImageFormat;
  outFormat?: string;
  options?: string[];
  output: OutputFormat;
  forceShare?: boolean;
}

export interface MeasureResult {
  required: number;
  'fully-allocated': number;
  bitmaps?: number;
}

export async function imgMeasure(file: string | undefined, opts: MeasureOptions): Promise<number> {
  if (file !== undefined && opts.size !== undefined) {
    throw new UsageError('--size N cannot be used together with a filename.');
  }
  if (file === undefined && opts.size === undefined) {
    throw new UsageError('Either --size N or one filename must be specified.');
  }
  const outFormat = parseFormat(opts.outFormat ?? 'raw');
  const options: Record<string, string> = {};
  for (const o of opts.options ?? []) Object.assign(options, parseOptionString(o));
  let result: MeasureResult;
  if (file === undefined) {
    result = await measure(outFormat, parseSize(opts.size!), options, undefined);
  } else {
    const input = await openImage(file, { format: opts.format, readOnly: true, lock: !opts.forceShare });
    try {
      result = await measure(outFormat, input.size, options, input);
    } finally {
      await input.close();
    }
  }
  if (opts.output === 'json') {
    // qemu-img 7.2 prints the keys in this order.
    const out: Record<string, number> = {};
    if (result.bitmaps !== undefined) out['bitmaps'] = result.bitmaps;
    out['required'] = result.required;
    out['fully-allocated'] = result['fully-allocated'];
    printJson(out);
  } else {
    let text = `required size: ${result.required}\nfully allocated size: ${result['fully-allocated']}\n`;
    if (result.bitmaps !== undefined) text += `bitmaps size: ${result.bitmaps}\n`;
    print(text);
  }
  return 0;
}

/** bdrv_measure for the output format; `input` is the image to convert, if any. */
export async function measure(
  outFormat: ImageFormat,
  size: number,
  options: Record<string, string>,
  input: Image | undefined,
): Promise<MeasureResult> {
  switch (outFormat) {
    case 'raw': {
      // raw_measure: every byte counts, allocated or not.
      const required = input ? input.size : alignUp(size, 512);
      return { required, 'fully-allocated': required };
    }
    case 'qcow2':
      return measureAsQcow2(size, options, input);
    default:
      throw new BlockError('NOT_SUPPORTED', `Block driver '${outFormat}' does not support size measurement`);
  }
}

async function measureAsQcow2(
  size: number,
  options: Record<string, string>,
  input: Image | undefined,
): Promise<MeasureResult> {
  const rest = { ...options };
  const hasBackingFile = rest['backing_file'] !== undefined;
  delete rest['backing_file'];
  delete rest['backing_fmt'];
  delete rest['size'];
  const o = parseCreateOptions(size, rest);
  const cs = o.clusterSize;
  const virtualSize = alignUp(size, cs);
  if (tooLargeForClusterSize(virtualSize, cs, o.extendedL2)) {
    throw new BlockError('INVALID', 'The image size is too large (try using a larger cluster size)');
  }
  let data = 0;
  if (input) {
    // With a backing file, assume nothing is shared with it: everything must be written.
    data = hasBackingFile ? virtualSize : await allocatedDataBytes(input, cs);
  }
  if (o.preallocation === 'full' || o.preallocation === 'falloc') data = virtualSize;
  const m = measureQcow2(virtualSize, cs, o.refcountBits, data, o.extendedL2);
  const result: MeasureResult = { required: m.required, 'fully-allocated': m.fullyAllocated };
  if (input && o.version >= 3 && input instanceof Qcow2Image && input.s.v3) {
    if (input.extensions.some((e) => e.type === EXT.BITMAPS)) {
      throw new BlockError(
        'NOT_SUPPORTED',
        'measuring images with persistent dirty bitmaps is not supported',
      );
    }
    result.bitmaps = 0;
  }
  return result;
}

/**
 * The bytes of whole output clusters that hold data of `input` (its chain included), counted as
 * qcow2_measure counts them: a data run is extended to the end of its last cluster, and counted
 * from the start of its first.
 */
export async function allocatedDataBytes(input: Image, clusterSize: number): Promise<number> {
  let required = 0;
  let pos = 0;
  for await (const e of walkExtents(input, 0, input.size)) {
    const end = e.offset + e.length;
    if (end <= pos) continue;
    const start = Math.max(pos, e.offset);
    if (isData(e)) {
      const stop = alignUp(end, clusterSize);
      required += (start % clusterSize) + (stop - start);
      pos = stop;
    } else {
      pos = end;
    }
  }
  return required;
}

/** BDRV_BLOCK_DATA | BDRV_BLOCK_ALLOCATED without BDRV_BLOCK_ZERO. */
function isData(e: Extent): boolean {
  return !e.zero && e.data && e.present;
}
