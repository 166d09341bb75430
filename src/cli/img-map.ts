/**
 * `vdisk img map`: the allocation map of an image, as `qemu-img map` prints it.
 *
 * The JSON form lists every merged extent of the range, with the exact spacing qemu-img 7.2
 * uses, so that tools which diff or parse qemu-img's output accept ours. The human form lists
 * only extents with data, with their host offset and host file.
 */
import { openImage, type ImageFormat } from '../formats/index.js';
import { BlockError, UsageError } from '../util/index.js';
import type { OutputFormat } from './args.js';
import { mapEntries, mapEntryJson, normalizeForHuman } from './extents.js';
import { print } from './output.js';
import { hexLeft16 } from './units.js';

export interface MapOptions {
  format?: ImageFormat;
  output: OutputFormat;
  startOffset?: number;
  maxLength?: number;
  forceShare?: boolean;
}

/** Flushes buffered lines to stdout every so often, so huge maps do not build one huge string. */
class LineBuffer {
  private parts: string[] = [];
  add(text: string): void {
    this.parts.push(text);
    if (this.parts.length >= 1024) this.flush();
  }
  flush(): void {
    if (this.parts.length) print(this.parts.join(''));
    this.parts = [];
  }
}

export async function imgMap(file: string, opts: MapOptions): Promise<number> {
  const image = await openImage(file, {
    format: opts.format,
    readOnly: true,
    lock: !opts.forceShare,
  });
  const out = new LineBuffer();
  try {
    const start = opts.startOffset ?? 0;
    if (start > image.size) {
      throw new UsageError(`start offset ${start} is past the end of the image (${image.size} bytes)`);
    }
    const end = opts.maxLength === undefined ? image.size : Math.min(image.size, start + opts.maxLength);
    if (opts.output === 'json') {
      out.add('[');
      let first = true;
      for await (const e of mapEntries(image, start, end)) {
        out.add((first ? '' : ',\n') + mapEntryJson(e));
        first = false;
      }
      out.add(']\n');
    } else {
      out.add(`${'Offset'.padEnd(16)}${'Length'.padEnd(16)}${'Mapped to'.padEnd(16)}File\n`);
      for await (const e of mapEntries(image, start, end, normalizeForHuman)) {
        if (!e.data) continue;
        if (e.offset === undefined) {
          throw new BlockError('NOT_SUPPORTED', 'File contains external, encrypted or compressed clusters.');
        }
        out.add(`${hexLeft16(e.start)}${hexLeft16(e.length)}${hexLeft16(e.offset)}${e.filename ?? ''}\n`);
      }
    }
  } finally {
    out.flush();
    await image.close();
  }
  return 0;
}
