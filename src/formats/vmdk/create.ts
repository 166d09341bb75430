/**
 * Creating VMDK images, with qemu-img's options and file layout:
 *
 *   subformat=monolithicSparse      one file: header, embedded descriptor (sector 1, 20 sectors),
 *                                   redundant grain directory and tables, grain directory and
 *                                   tables, grains from the next grain boundary (qemu's layout;
 *                                   the tables are holes until written)
 *   subformat=monolithicFlat        NAME.vmdk descriptor + NAME-flat.vmdk data
 *   subformat=twoGbMaxExtentSparse  NAME.vmdk descriptor + NAME-s001.vmdk ... sparse extents of 2 GiB
 *   subformat=twoGbMaxExtentFlat    NAME.vmdk descriptor + NAME-f001.vmdk ... flat extents of 2 GiB
 *   subformat=streamOptimized       header with gdOffset = GD_AT_END, embedded descriptor, then an
 *                                   empty grain directory, footer and end-of-stream marker: a
 *                                   valid empty stream that stream-writer.ts fills when opened
 *
 * Other options: adapter_type (ide, buslogic, lsilogic, legacyESX), hwversion, toolsversion,
 * compat6, zeroed_grain. Backing files (delta links) are not supported yet.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { HostFile } from '../../block/index.js';
import { alignUp, BlockError } from '../../util/index.js';
import type { CreateImageOptions } from '../image.js';
import { encodeDescriptor, NO_PARENT_CID, type Descriptor, type ExtentLine } from './descriptor.js';
import { encodeEntries, grainGeometry } from './grain-table.js';
import { encodeMetadataMarker } from './markers.js';
import { COMPRESS_DEFLATE, encodeSparseHeader, FLAGS, newSparseHeader, SECTOR } from './sparse-header.js';
import { MAX_EXTENT_SECTORS, MAX_GD_ENTRIES } from './sparse-open.js';

export const SUBFORMATS = [
  'monolithicSparse',
  'monolithicFlat',
  'twoGbMaxExtentSparse',
  'twoGbMaxExtentFlat',
  'streamOptimized',
] as const;
export type Subformat = (typeof SUBFORMATS)[number];

const ADAPTER_TYPES = ['ide', 'buslogic', 'lsilogic', 'legacyESX'];
/** VMDK's split size for the twoGbMaxExtent subformats. */
const SPLIT_SIZE = 0x80000000;
const DESC_OFFSET = 1;
const DESC_SECTORS = 20;
const GRAIN_SECTORS = 128;
const GT_ENTRIES = 512;

export interface VmdkCreateOptions {
  size: number;
  subformat: Subformat;
  adapterType: string;
  hwVersion: string;
  toolsVersion: string;
  zeroedGrain: boolean;
}

function bool(v: string, key: string): boolean {
  if (['on', 'true', 'yes'].includes(v)) return true;
  if (['off', 'false', 'no'].includes(v)) return false;
  throw new BlockError('INVALID', `invalid value '${v}' for option '${key}': use on or off`);
}

export function parseVmdkCreateOptions(opts: CreateImageOptions): VmdkCreateOptions {
  const o = { ...(opts.options ?? {}) };
  if (opts.backingFile || o['backing_file']) {
    throw new BlockError(
      'NOT_SUPPORTED',
      'vmdk backing files (delta links, parentFileNameHint) are not supported yet',
    );
  }
  if (opts.size === undefined) throw new BlockError('INVALID', 'an image size is required');
  const take = (k: string): string | undefined => {
    const v = o[k];
    delete o[k];
    return v;
  };
  const subformat = take('subformat') ?? 'monolithicSparse';
  if (!(SUBFORMATS as readonly string[]).includes(subformat)) {
    throw new BlockError('INVALID', `invalid subformat '${subformat}': use one of ${SUBFORMATS.join(', ')}`);
  }
  const adapterType = take('adapter_type') ?? 'ide';
  if (!ADAPTER_TYPES.includes(adapterType)) {
    throw new BlockError(
      'INVALID',
      `invalid adapter_type '${adapterType}': use one of ${ADAPTER_TYPES.join(', ')}`,
    );
  }
  const compat6 = bool(take('compat6') ?? 'off', 'compat6');
  let hwVersion = take('hwversion');
  if (hwVersion === 'undefined') hwVersion = undefined;
  if (compat6 && hwVersion) throw new BlockError('INVALID', 'compat6 cannot be enabled with hwversion set');
  const toolsVersion = take('toolsversion') ?? '2147483647';
  const zeroedGrain = bool(take('zeroed_grain') ?? 'off', 'zeroed_grain');
  const extra = Object.keys(o);
  if (extra.length) throw new BlockError('INVALID', `invalid option '${extra[0]}' for format 'vmdk'`);
  const flat = subformat === 'monolithicFlat' || subformat === 'twoGbMaxExtentFlat';
  if (flat && zeroedGrain) throw new BlockError('INVALID', "Flat image can't enable zeroed grain");
  if (!Number.isSafeInteger(opts.size) || opts.size < 0)
    throw new BlockError('INVALID', `invalid size ${opts.size}`);
  return {
    size: alignUp(opts.size, SECTOR),
    subformat: subformat as Subformat,
    adapterType,
    hwVersion: hwVersion ?? (compat6 ? '6' : '4'),
    toolsVersion,
    zeroedGrain,
  };
}

async function withNewFile(file: string, fn: (f: HostFile) => Promise<void>): Promise<void> {
  const f = await HostFile.open(file, { create: true, truncate: true });
  try {
    await fn(f);
  } finally {
    await f.close();
  }
}

/** Writes an empty sparse extent of `size` bytes (qemu's layout); returns nothing. */
async function writeSparseExtent(f: HostFile, size: number, zeroedGrain: boolean): Promise<void> {
  const capacity = size / SECTOR;
  const g = grainGeometry(capacity, GRAIN_SECTORS, GT_ENTRIES);
  if (g.gdEntries > MAX_GD_ENTRIES)
    throw new BlockError('INVALID', `image size ${size} is too large for vmdk`);
  const gtSectors = g.tableBytes / SECTOR;
  const gdSectors = g.gdBytes / SECTOR;
  const rgdOffset = DESC_OFFSET + DESC_SECTORS;
  const gdOffset = rgdOffset + gdSectors + gtSectors * g.gdEntries;
  const overHead = alignUp(gdOffset + gdSectors + gtSectors * g.gdEntries, GRAIN_SECTORS);
  if (overHead >= MAX_EXTENT_SECTORS)
    throw new BlockError('INVALID', `image size ${size} is too large for vmdk`);
  const h = newSparseHeader({
    version: zeroedGrain ? 2 : 1,
    flags: FLAGS.REDUNDANT_GT | FLAGS.NL_DETECT | (zeroedGrain ? FLAGS.ZERO_GRAIN : 0),
    capacity,
    grainSize: GRAIN_SECTORS,
    descriptorOffset: DESC_OFFSET,
    descriptorSize: DESC_SECTORS,
    numGTEsPerGT: GT_ENTRIES,
    rgdOffset,
    gdOffset,
    overHead,
  });
  await f.pwrite(0, encodeSparseHeader(h));
  await f.truncate(overHead * SECTOR);
  const dir = new Uint32Array(g.gdEntries);
  for (const at of [rgdOffset, gdOffset]) {
    for (let i = 0; i < g.gdEntries; i++) dir[i] = at + gdSectors + i * gtSectors;
    await f.pwrite(at * SECTOR, encodeEntries(dir, 0, dir.length, g.gdBytes));
  }
}

/** Writes an empty stream-optimized extent: header, descriptor, empty directory, footer, EOS. */
async function writeStreamExtent(f: HostFile, size: number, descriptor: Buffer): Promise<void> {
  const g = grainGeometry(size / SECTOR, GRAIN_SECTORS, GT_ENTRIES);
  if (g.gdEntries > MAX_GD_ENTRIES)
    throw new BlockError('INVALID', `image size ${size} is too large for vmdk`);
  const overHead = GRAIN_SECTORS;
  const gdSectors = g.gdBytes / SECTOR;
  const h = newSparseHeader({
    version: 3,
    flags: FLAGS.NL_DETECT | FLAGS.COMPRESSED | FLAGS.MARKERS,
    capacity: size / SECTOR,
    grainSize: GRAIN_SECTORS,
    descriptorOffset: DESC_OFFSET,
    descriptorSize: DESC_SECTORS,
    numGTEsPerGT: GT_ENTRIES,
    gdAtEnd: true,
    overHead,
    compressAlgorithm: COMPRESS_DEFLATE,
  });
  await f.pwrite(0, encodeSparseHeader(h));
  await f.pwrite(DESC_OFFSET * SECTOR, descriptor);
  const tail = Buffer.concat([
    encodeMetadataMarker('gd', gdSectors),
    Buffer.alloc(g.gdBytes),
    encodeMetadataMarker('footer', 1),
    encodeSparseHeader({ ...h, gdAtEnd: false, gdOffset: overHead + 1 }),
    encodeMetadataMarker('eos', 0),
  ]);
  await f.pwrite(overHead * SECTOR, tail);
}

/** Creates the image files for `file` (the descriptor, or the whole image when monolithic). */
export async function createVmdk(file: string, opts: CreateImageOptions): Promise<void> {
  const o = parseVmdkCreateOptions(opts);
  const dir = path.dirname(file);
  const base = path.basename(file);
  const dot = base.lastIndexOf('.');
  const prefix = dot < 0 ? base : base.slice(0, dot);
  const postfix = dot < 0 ? '' : base.slice(dot);
  const flat = o.subformat === 'monolithicFlat' || o.subformat === 'twoGbMaxExtentFlat';
  const split = o.subformat === 'twoGbMaxExtentFlat' || o.subformat === 'twoGbMaxExtentSparse';
  const type = flat ? 'FLAT' : 'SPARSE';
  const extents: ExtentLine[] = [];
  const extentFiles: Array<{ name: string; size: number }> = [];
  if (!flat && !split) {
    extents.push({ access: 'RW', sectors: o.size / SECTOR, type, filename: base });
  } else {
    const step = split ? SPLIT_SIZE : o.size;
    for (let at = 0, i = 1; at < o.size; at += step, i++) {
      const size = Math.min(step, o.size - at);
      const name = split
        ? `${prefix}-${flat ? 'f' : 's'}${String(i).padStart(3, '0')}${postfix}`
        : `${prefix}-flat${postfix}`;
      extentFiles.push({ name, size });
      extents.push({
        access: 'RW',
        sectors: size / SECTOR,
        type,
        filename: name,
        ...(flat ? { offset: 0 } : {}),
      });
    }
  }
  const heads = o.adapterType === 'ide' ? 16 : 255;
  const d: Descriptor = {
    version: 1,
    cid: randomBytes(4).readUInt32LE(0),
    parentCid: NO_PARENT_CID,
    createType: o.subformat,
    fields: [],
    extents,
    ddb: [
      ['virtualHWVersion', o.hwVersion],
      ['geometry.cylinders', String(Math.floor(o.size / (63 * heads * SECTOR)))],
      ['geometry.heads', String(heads)],
      ['geometry.sectors', '63'],
      ['adapterType', o.adapterType],
      ['toolsVersion', o.toolsVersion],
    ],
  };
  const text = Buffer.from(encodeDescriptor(d), 'utf8');
  if (text.length > DESC_SECTORS * SECTOR) throw new BlockError('INVALID', 'the VMDK descriptor is too long');
  for (const e of extentFiles) {
    await withNewFile(path.join(dir, e.name), async (f) => {
      if (flat) await f.truncate(e.size);
      else await writeSparseExtent(f, e.size, o.zeroedGrain);
    });
  }
  await withNewFile(file, async (f) => {
    if (o.subformat === 'streamOptimized') return writeStreamExtent(f, o.size, text);
    if (o.subformat === 'monolithicSparse') {
      await writeSparseExtent(f, o.size, o.zeroedGrain);
      await f.pwrite(DESC_OFFSET * SECTOR, text);
      return;
    }
    await f.pwrite(0, text);
  });
}
