/**
 * Changes to the header area of cluster 0 (header, extensions, backing file name): changing the
 * backing file (rebase) and amending options (compat level, lazy refcounts).
 *
 * The whole area is rewritten in one write and synced. Unknown extensions are kept; qemu's
 * optional feature name table is dropped when the area would not fit in cluster 0 otherwise.
 * Callers drain the image (whole-device guest lock) and hold `meta`.
 */
import { BlockError } from '../../util/index.js';
import { decodeL2Entry, encodeL2Entry } from './entries.js';
import { DEFAULT_FEATURE_TABLE, encodeExtensions, EXT, type HeaderExtension } from './header-ext.js';
import { COMPAT, encodeHeader, INCOMPAT, V2_HEADER_SIZE, V3_HEADER_SIZE } from './header.js';
import type { ClusterMap } from './cluster-map.js';
import type { Refcounts } from './refcounts.js';
import type { Qcow2State } from './state.js';

export interface HeaderArea {
  extensions: HeaderExtension[];
  backingName: string | undefined;
}

/** Writes header + extensions + backing name to the start of cluster 0, zeroing what they used before. */
export async function writeHeaderArea(s: Qcow2State, area: HeaderArea): Promise<void> {
  const h = s.header;
  const cs = s.clusterSize;
  const name = area.backingName ? Buffer.from(area.backingName, 'utf8') : Buffer.alloc(0);
  if (name.length > 1023) throw new BlockError('INVALID', 'backing file name is longer than 1023 bytes');
  const headerLen = h.version === 3 ? h.headerLength : V2_HEADER_SIZE;
  let exts = area.extensions;
  let extBytes = encodeExtensions(exts);
  if (headerLen + extBytes.length + name.length > cs) {
    exts = exts.filter((e) => e.type !== EXT.FEATURE_TABLE);
    extBytes = encodeExtensions(exts);
  }
  if (headerLen + extBytes.length + name.length > cs) {
    throw new BlockError(
      'INVALID',
      'the header, its extensions and the backing file name do not fit in cluster 0',
    );
  }
  area.extensions = exts;
  h.backingFileOffset = name.length ? headerLen + extBytes.length : 0;
  h.backingFileSize = name.length;
  const buf = Buffer.concat([encodeHeader(h), extBytes, name]);
  // Zero the rest of the old area too, so no stale extension or name bytes remain.
  const old = Buffer.alloc(Math.min(cs, 4096));
  await s.file.pread(0, old);
  let used = old.length;
  while (used > buf.length && old[used - 1] === 0) used--;
  const out = Buffer.alloc(Math.max(buf.length, used));
  buf.copy(out);
  await s.file.pwrite(0, out);
  await s.file.flush();
}

export function setBackingExtensions(exts: HeaderExtension[], format: string | undefined): HeaderExtension[] {
  const rest = exts.filter((e) => e.type !== EXT.BACKING_FORMAT);
  return format ? [{ type: EXT.BACKING_FORMAT, data: Buffer.from(format, 'utf8') }, ...rest] : rest;
}

function onOff(v: string, name: string): boolean {
  if (['on', 'true', 'yes'].includes(v)) return true;
  if (['off', 'false', 'no'].includes(v)) return false;
  throw new BlockError('INVALID', `invalid value '${v}' for ${name}: use on or off`);
}

export interface AmendContext {
  s: Qcow2State;
  rc: Refcounts;
  map: ClusterMap;
  area: HeaderArea;
  hasBacking: boolean;
  /** Turns lazy refcount handling on or off in the running image. */
  setLazy(on: boolean): void;
  /** Writes the write-back metadata (Qcow2Image.flushMetadataLocked). */
  flushMeta(): Promise<void>;
}

/** qemu-img amend for qcow2: compat=0.10|1.1 and lazy_refcounts=on|off. */
export async function amendQcow2(ctx: AmendContext, opts: Record<string, string>): Promise<void> {
  const { s, rc } = ctx;
  const h = s.header;
  for (const k of Object.keys(opts)) {
    if (k !== 'compat' && k !== 'lazy_refcounts')
      throw new BlockError('NOT_SUPPORTED', `amending '${k}' is not supported yet`);
  }
  let version = h.version;
  if (opts['compat'] !== undefined) {
    if (opts['compat'] === '0.10' || opts['compat'] === 'v2') version = 2;
    else if (opts['compat'] === '1.1' || opts['compat'] === 'v3') version = 3;
    else throw new BlockError('INVALID', `invalid compat value '${opts['compat']}': use 0.10 or 1.1`);
  }
  const lazy =
    opts['lazy_refcounts'] !== undefined
      ? onOff(opts['lazy_refcounts'], 'lazy_refcounts')
      : (h.compatibleFeatures & COMPAT.LAZY_REFCOUNTS) !== 0n;
  if (lazy && version === 2) {
    throw new BlockError(
      'INVALID',
      'lazy refcounts only supported with compatibility level 1.1 and above (use compat=1.1 or greater)',
    );
  }
  // Leaving lazy refcounts (or v3): write every deferred refcount and clear the dirty bit first.
  if (!lazy) {
    if (rc.hasDirty) await rc.writeDirty();
    await s.file.flush();
    ctx.setLazy(false);
    h.compatibleFeatures &= ~COMPAT.LAZY_REFCOUNTS;
    h.incompatibleFeatures &= ~INCOMPAT.DIRTY;
  }
  if (version === 2 && h.version === 3) {
    if (s.refcountBits !== 16)
      throw new BlockError('NOT_SUPPORTED', 'Cannot downgrade an image with refcount_bits not equal to 16');
    if (h.compressionType !== 0)
      throw new BlockError(
        'NOT_SUPPORTED',
        'Cannot downgrade an image with a compression type other than zlib',
      );
    if (h.incompatibleFeatures & ~INCOMPAT.DIRTY)
      throw new BlockError('NOT_SUPPORTED', 'Cannot downgrade an image with incompatible features set');
    await expandZeroClusters(ctx);
    // No zero flag may remain on disk once the header says version 2.
    await ctx.flushMeta();
    await s.file.flush();
    h.version = 2;
    h.headerLength = V2_HEADER_SIZE;
    h.incompatibleFeatures = 0n;
    h.compatibleFeatures = 0n;
    h.autoclearFeatures = 0n;
    ctx.area.extensions = ctx.area.extensions.filter((e) => e.type !== EXT.FEATURE_TABLE);
  } else if (version === 3 && h.version === 2) {
    h.version = 3;
    h.headerLength = V3_HEADER_SIZE;
    h.refcountOrder = 4;
    h.compressionType = 0;
    h.extraFields = Buffer.alloc(0);
    if (!ctx.area.extensions.some((e) => e.type === EXT.FEATURE_TABLE)) {
      ctx.area.extensions = [
        ...ctx.area.extensions,
        { type: EXT.FEATURE_TABLE, data: DEFAULT_FEATURE_TABLE },
      ];
    }
  }
  if (lazy) {
    h.compatibleFeatures |= COMPAT.LAZY_REFCOUNTS;
    ctx.setLazy(true);
  }
  await writeHeaderArea(s, ctx.area);
}

/** Version 2 has no zero flag: zero clusters become zero-filled data, or unallocated without a backing file. */
async function expandZeroClusters(ctx: AmendContext): Promise<void> {
  const { s, rc, map } = ctx;
  const cs = s.clusterSize;
  const zeros = Buffer.alloc(cs);
  for (let l1i = 0; l1i < map.l1Size; l1i++) {
    const off = map.l2Offset(l1i);
    if (!off) continue;
    const t = await map.table(off);
    for (let i = 0; i < s.l2Entries; i++) {
      const e = decodeL2Entry(t, i, s.clusterBits, true, s.extL2);
      if (e.kind !== 'zero') continue;
      const gc = l1i * s.l2Entries + i;
      if (e.hostOffset) {
        await s.file.pwrite(e.hostOffset, zeros);
        await map.update(gc, 1, (tb, j) => encodeL2Entry(tb, j, e.hostOffset, true));
      } else if (ctx.hasBacking) {
        const host = await rc.allocate(1);
        await s.file.pwrite(host, zeros);
        await map.update(gc, 1, (tb, j) => encodeL2Entry(tb, j, host, true));
      } else {
        await map.update(gc, 1, (tb, j) => encodeL2Entry(tb, j, 0, false));
      }
    }
  }
  await s.file.flush();
}
