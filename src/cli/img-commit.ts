/**
 * `vdisk img commit`: write an overlay's changes into its backing file, as `qemu-img commit`.
 *
 * The chain is opened layer by layer, each without its backing file: the top image (FILE), the
 * images between it and the base read-only, and the base read-write with its own backing chain
 * (a partial write into a qcow2 base copies the rest of the cluster from below it). The base is
 * FILE's backing file, or -b BASE found by path anywhere down the chain.
 *
 * For every range, the highest layer above the base that allocates it provides the bytes: data
 * is read from that layer and written to the base, zeroes are written as zeroes; ranges no layer
 * above the base allocates are left alone. A base smaller than the top image is grown first.
 *
 * Afterwards the top image is emptied (every cluster made unallocated, so it reads through to
 * the base again) unless -d says to keep it. As in qemu-img, -b implies -d: an emptied top would
 * read the older data of the images between it and the base, so it keeps its own. (Those
 * images themselves now read the committed data wherever they do not allocate: qemu-img calls
 * them invalid.) Prints "Image committed." like qemu-img.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { CacheMode, Extent } from '../block/index.js';
import { openImage, type Image, type ImageFormat } from '../formats/index.js';
import { BlockError } from '../util/index.js';
import { parseFormat } from './args.js';
import { StatusCursor } from './extents.js';
import { print } from './output.js';
import { Progress } from './progress.js';

export interface CommitOptions {
  format?: ImageFormat;
  base?: string;
  drop?: boolean;
  progress?: boolean;
  quiet?: boolean;
  cache?: CacheMode;
}

/** The largest copy at once. */
const CHUNK = 2 * 1024 * 1024;

export async function imgCommit(file: string, opts: CommitOptions): Promise<number> {
  const keepTop = (opts.drop ?? false) || opts.base !== undefined;
  const cache = opts.cache ?? 'writeback';
  const layers: Image[] = [];
  let base: Image | undefined;
  try {
    layers.push(await openImage(file, { format: opts.format, readOnly: keepTop, openBacking: false, cache }));
    let info = await layers[0]!.info();
    if (info['full-backing-filename'] === undefined)
      throw new BlockError('INVALID', 'Image does not have a backing file');
    const wanted = opts.base === undefined ? undefined : realPath(opts.base);
    // Walk down the chain by name until the base; open the layers in between read-only.
    for (;;) {
      const next = info['full-backing-filename'];
      if (next === undefined) {
        throw new BlockError('INVALID', `Did not find '${opts.base}' in the backing chain of '${file}'`);
      }
      const fmtName = info['backing-filename-format'];
      const fmt = fmtName === undefined ? undefined : parseFormat(fmtName);
      if (wanted === undefined || realPath(next) === wanted) {
        base = await openImage(next, { format: fmt, cache });
        break;
      }
      const layer = await openImage(next, { format: fmt, readOnly: true, openBacking: false, cache });
      layers.push(layer);
      info = await layer.info();
    }
    const progress = new Progress((opts.progress ?? false) && !opts.quiet);
    const top = layers[0]!;
    if (base.size < top.size) await base.resize(top.size);
    await copyAllocated(layers, base, progress);
    await base.flush();
    if (!keepTop) await top.discard(0, top.size);
  } finally {
    for (const l of layers) await l.close();
    if (base) await base.close();
  }
  if (!opts.quiet) print('Image committed.\n');
  return 0;
}

function realPath(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    return path.resolve(p);
  }
}

/** What each layer says about one position: allocated here, and until where that holds. */
interface LayerState {
  allocated: Extent | undefined;
  end: number;
}

async function copyAllocated(layers: Image[], base: Image, progress: Progress): Promise<void> {
  const size = layers[0]!.size;
  const cursors = layers.map((l) => new StatusCursor(l, 0, l.size));
  const buf = Buffer.alloc(CHUNK);
  progress.set(0);
  for (let pos = 0; pos < size;) {
    let end = size;
    let source: { layer: Image; extent: Extent } | undefined;
    for (let i = 0; i < layers.length && !source; i++) {
      const st = await stateAt(layers[i]!, cursors[i]!, pos, size);
      end = Math.min(end, st.end);
      if (st.allocated) source = { layer: layers[i]!, extent: st.allocated };
    }
    if (source) {
      if (source.extent.zero) {
        await base.writeZeroes(pos, end - pos, { mayUnmap: true });
      } else {
        end = Math.min(end, pos + CHUNK);
        const data = buf.subarray(0, end - pos);
        await source.layer.read(pos, data);
        await base.write(pos, data);
      }
    }
    pos = end;
    progress.set((100 * pos) / size);
  }
  progress.set(100);
  progress.end();
}

async function stateAt(layer: Image, cursor: StatusCursor, pos: number, size: number): Promise<LayerState> {
  // A layer shorter than the top allocates nothing past its end.
  if (pos >= layer.size) return { allocated: undefined, end: size };
  const e = await cursor.at(pos);
  const end = e.offset + e.length;
  return { allocated: e.depth === 0 && e.present ? e : undefined, end };
}
