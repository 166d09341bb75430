/**
 * Allocation maps the way qemu-img walks them (qemu-img.c, img_map and img_compare).
 *
 * `blockStatus` answers for a window at a time; `walkExtents` asks window by window (1 GiB by
 * default, so a huge image never needs one huge answer) and yields extents clipped to the range.
 * It checks that the answers tile the range exactly: a device that skips or repeats bytes is a
 * bug we report rather than print a wrong map for.
 *
 * `mapEntries` turns extents into qemu-img map's entries and merges neighbours exactly when
 * qemu-img's `entry_mergeable` would: same depth, present, zero and data, same host file, and a
 * host offset that is either absent in both or continues where the previous one ended.
 */
import type { BlockDevice, Extent } from '../block/index.js';
import { BlockError } from '../util/index.js';

export const STATUS_WINDOW = 1024 ** 3;

/** One entry of `qemu-img map --output=json`, plus the host file name the human form prints. */
export interface MapEntry {
  start: number;
  length: number;
  depth: number;
  present: boolean;
  zero: boolean;
  data: boolean;
  /** Host offset (qemu-img prints it whenever the driver reports a valid offset). */
  offset?: number;
  filename?: string;
}

export async function* walkExtents(
  dev: BlockDevice,
  start: number,
  end: number,
  window = STATUS_WINDOW,
): AsyncGenerator<Extent> {
  let pos = start;
  while (pos < end) {
    const want = Math.min(window, end - pos);
    const list = await dev.blockStatus(pos, want);
    const stop = pos + want;
    for (const e of list) {
      if (e.offset !== pos || e.length <= 0 || e.offset + e.length > stop) {
        throw new BlockError(
          'IO',
          `block status of [${pos}, ${stop}) returned a bad extent [${e.offset}, ${e.offset + e.length})`,
        );
      }
      yield e;
      pos += e.length;
    }
    if (pos !== stop) throw new BlockError('IO', `block status stopped at ${pos} before ${stop}`);
  }
}

export function toMapEntry(e: Extent): MapEntry {
  const entry: MapEntry = {
    start: e.offset,
    length: e.length,
    depth: e.depth,
    present: e.present,
    zero: e.zero,
    data: e.data,
  };
  if (e.hostOffset !== undefined) entry.offset = e.hostOffset;
  if (e.hostFile !== undefined) entry.filename = e.hostFile;
  return entry;
}

/** qemu-img's entry_mergeable. */
export function mergeable(a: MapEntry, b: MapEntry): boolean {
  if (a.length === 0) return false;
  if (a.zero !== b.zero || a.data !== b.data || a.depth !== b.depth || a.present !== b.present) {
    return false;
  }
  if (a.filename !== b.filename) return false;
  if ((a.offset === undefined) !== (b.offset === undefined)) return false;
  if (a.offset !== undefined && a.offset + a.length !== b.offset) return false;
  return true;
}

/**
 * qemu-img map's human form ignores the difference between unallocated, zero and zero+data, and
 * rewrites such entries so that they coalesce.
 */
export function normalizeForHuman(e: MapEntry): MapEntry {
  return !e.data || e.zero ? { ...e, data: false, zero: true } : e;
}

/** Merged map entries of [start, end). */
export async function* mapEntries(
  dev: BlockDevice,
  start: number,
  end: number,
  transform: (e: MapEntry) => MapEntry = (e) => e,
  window = STATUS_WINDOW,
): AsyncGenerator<MapEntry> {
  let curr: MapEntry | undefined;
  for await (const e of walkExtents(dev, start, end, window)) {
    const next = transform(toMapEntry(e));
    if (curr && mergeable(curr, next)) {
      curr.length += next.length;
      continue;
    }
    if (curr) yield curr;
    curr = next;
  }
  if (curr) yield curr;
}

/** Random access to a device's extents in increasing offset order (img compare walks two). */
export class StatusCursor {
  private readonly iter: AsyncGenerator<Extent>;
  private current: Extent | undefined;

  constructor(dev: BlockDevice, start: number, end: number) {
    this.iter = walkExtents(dev, start, end);
  }

  /** The extent that contains `pos`; positions must not go backwards. */
  async at(pos: number): Promise<Extent> {
    while (!this.current || this.current.offset + this.current.length <= pos) {
      const r = await this.iter.next();
      if (r.done) throw new BlockError('IO', `block status has no extent for offset ${pos}`);
      this.current = r.value;
    }
    return this.current;
  }
}

/** One line of `qemu-img map --output=json`, byte for byte as qemu-img 7.2 prints it. */
export function mapEntryJson(e: MapEntry): string {
  let s =
    `{ "start": ${e.start}, "length": ${e.length}, "depth": ${e.depth},` +
    ` "present": ${e.present}, "zero": ${e.zero}, "data": ${e.data}`;
  if (e.offset !== undefined) s += `, "offset": ${e.offset}`;
  return s + '}';
}
