/**
 * Creating qcow2 images with qemu-img's options and layout: header and extensions in cluster 0,
 * then the refcount table, the refcount blocks that cover the initial metadata, and the L1 table.
 * Preallocation beyond metadata is done afterwards through the opened image.
 */
import fs from 'node:fs';
import path from 'node:path';
import { HostFile } from '../../block/index.js';
import { alignUp, BlockError, fromSystemError, isPowerOfTwo, log2 } from '../../util/index.js';
import { DEFAULT_FEATURE_TABLE, encodeExtensions, EXT, type HeaderExtension } from './header-ext.js';
import {
  COMPAT,
  encodeHeader,
  INCOMPAT,
  V2_HEADER_SIZE,
  V3_HEADER_SIZE,
  type Qcow2Header,
} from './header.js';
import { encodeRefcountTableEntry, refcountEntries, setRefcount } from './refcount-block.js';

export interface Qcow2CreateOptions {
  size: number;
  version: 2 | 3;
  clusterSize: number;
  refcountBits: number;
  lazyRefcounts: boolean;
  preallocation: 'off' | 'metadata' | 'falloc' | 'full';
  compressionType: 'zlib' | 'zstd';
  extendedL2: boolean;
  backingFile?: string;
  backingFormat?: string;
}

const KNOWN_OPTIONS = new Set([
  'compat',
  'cluster_size',
  'refcount_bits',
  'lazy_refcounts',
  'preallocation',
  'compression_type',
  'extended_l2',
  'backing_file',
  'backing_fmt',
  'encryption',
  'encrypt.format',
  'data_file',
  'size',
]);

function onOff(v: string, name: string): boolean {
  if (['on', 'true', 'yes'].includes(v)) return true;
  if (['off', 'false', 'no'].includes(v)) return false;
  throw new BlockError('INVALID', `invalid value '${v}' for ${name}: use on or off`);
}

function parseBytes(v: string, name: string): number {
  const m = /^(\d+)([kKmMgG]?)$/.exec(v);
  if (!m) throw new BlockError('INVALID', `invalid value '${v}' for ${name}`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase()]!;
  return Number(m[1]) * mult;
}

/** Turns `-o key=value` options into validated creation parameters. */
export function parseCreateOptions(size: number, opts: Record<string, string>): Qcow2CreateOptions {
  for (const k of Object.keys(opts)) {
    if (!KNOWN_OPTIONS.has(k)) throw new BlockError('INVALID', `invalid parameter '${k}' for format 'qcow2'`);
  }
  const compat = opts['compat'] ?? '1.1';
  let version: 2 | 3;
  if (compat === '0.10' || compat === 'v2') version = 2;
  else if (compat === '1.1' || compat === 'v3') version = 3;
  else throw new BlockError('INVALID', `invalid compat value '${compat}': use 0.10 or 1.1`);
  const clusterSize = opts['cluster_size'] ? parseBytes(opts['cluster_size'], 'cluster_size') : 65536;
  if (!isPowerOfTwo(clusterSize) || clusterSize < 512 || clusterSize > 2 * 1024 * 1024) {
    throw new BlockError('INVALID', 'cluster size must be a power of two between 512 and 2048k');
  }
  const refcountBits = opts['refcount_bits'] ? Number(opts['refcount_bits']) : 16;
  if (!isPowerOfTwo(refcountBits) || refcountBits > 64) {
    throw new BlockError('INVALID', 'refcount_bits must be a power of two between 1 and 64');
  }
  if (version === 2 && refcountBits !== 16) {
    throw new BlockError(
      'INVALID',
      'different refcount widths than 16 bits require compatibility level 1.1 or above (use compat=1.1 or greater)',
    );
  }
  const lazyRefcounts = opts['lazy_refcounts'] ? onOff(opts['lazy_refcounts'], 'lazy_refcounts') : false;
  if (lazyRefcounts && version === 2) {
    throw new BlockError(
      'INVALID',
      'lazy refcounts only supported with compatibility level 1.1 and above (use compat=1.1 or greater)',
    );
  }
  const preallocation = (opts['preallocation'] ?? 'off') as Qcow2CreateOptions['preallocation'];
  if (!['off', 'metadata', 'falloc', 'full'].includes(preallocation)) {
    throw new BlockError(
      'INVALID',
      `invalid preallocation mode '${preallocation}': use off, metadata, falloc or full`,
    );
  }
  const compressionType = (opts['compression_type'] ?? 'zlib') as 'zlib' | 'zstd';
  if (compressionType !== 'zlib' && compressionType !== 'zstd') {
    throw new BlockError('INVALID', `invalid compression_type '${compressionType}': use zlib or zstd`);
  }
  if (compressionType === 'zstd' && version === 2) {
    throw new BlockError('INVALID', 'compression_type requires compatibility level 1.1 or above');
  }
  const extendedL2 = opts['extended_l2'] ? onOff(opts['extended_l2'], 'extended_l2') : false;
  if (extendedL2 && version === 2) {
    throw new BlockError(
      'INVALID',
      'Extended L2 entries are only supported with compatibility level 1.1 and above (use compat=1.1 or greater)',
    );
  }
  if (extendedL2 && clusterSize < 16384) {
    throw new BlockError(
      'INVALID',
      'Extended L2 entries are only supported with cluster sizes of at least 16384 bytes',
    );
  }
  if (opts['encryption'] && onOff(opts['encryption'], 'encryption')) {
    throw new BlockError('NOT_SUPPORTED', 'encrypted qcow2 images are not supported');
  }
  if (opts['encrypt.format'])
    throw new BlockError('NOT_SUPPORTED', 'encrypted qcow2 images are not supported');
  if (opts['data_file']) throw new BlockError('NOT_SUPPORTED', 'external data files are not supported yet');
  const r: Qcow2CreateOptions = {
    // qemu-img rounds the virtual size up to whole 512-byte sectors, and qemu truncates an
    // unaligned size field when it opens an image (its tail would be unreadable there).
    size: alignUp(size, 512),
    version,
    clusterSize,
    refcountBits,
    lazyRefcounts,
    preallocation,
    compressionType,
    extendedL2,
  };
  if (opts['backing_file']) r.backingFile = opts['backing_file'];
  if (opts['backing_fmt']) r.backingFormat = opts['backing_fmt'];
  if (r.backingFile && preallocation !== 'off') {
    // qemu-img allows this; vdisk keeps it simple and says so.
    throw new BlockError('NOT_SUPPORTED', 'preallocation with a backing file is not supported yet');
  }
  return r;
}

/** Writes a new, empty qcow2 image (metadata only). Returns the created header. */
export async function writeEmptyQcow2(file: string, o: Qcow2CreateOptions): Promise<Qcow2Header> {
  const cs = o.clusterSize;
  const E = refcountEntries(cs, o.refcountBits);
  const l2Cover = cs * (cs / (o.extendedL2 ? 16 : 8));
  const l1Entries = Math.ceil(o.size / l2Cover);
  if (l1Entries * 8 > 32 * 1024 * 1024)
    throw new BlockError('INVALID', 'image size too large for the cluster size (L1 table limit)');
  const l1Clusters = Math.ceil((l1Entries * 8) / cs);
  let rt = 1;
  let rb = 1;
  for (;;) {
    const total = 1 + rt + rb + l1Clusters;
    const needRb = Math.ceil(total / E);
    const needRt = Math.ceil((needRb * 8) / cs);
    if (needRb <= rb && needRt <= rt) break;
    rb = Math.max(rb, needRb);
    rt = Math.max(rt, needRt);
  }
  const total = 1 + rt + rb + l1Clusters;
  const rtOffset = cs;
  const rbOffset = (1 + rt) * cs;
  const l1Offset = (1 + rt + rb) * cs;

  const exts: HeaderExtension[] = [];
  if (o.backingFormat) exts.push({ type: EXT.BACKING_FORMAT, data: Buffer.from(o.backingFormat, 'utf8') });
  if (o.version === 3) exts.push({ type: EXT.FEATURE_TABLE, data: DEFAULT_FEATURE_TABLE });
  const headerLen = o.version === 3 ? V3_HEADER_SIZE : V2_HEADER_SIZE;
  const backing = o.backingFile ? Buffer.from(o.backingFile, 'utf8') : Buffer.alloc(0);
  if (backing.length > 1023) throw new BlockError('INVALID', 'backing file name is longer than 1023 bytes');
  let extBytes = encodeExtensions(exts);
  if (headerLen + extBytes.length + backing.length > cs && o.version === 3) {
    // Like qemu, leave out the optional feature name table when cluster 0 is too small for it.
    extBytes = encodeExtensions(exts.filter((e) => e.type !== EXT.FEATURE_TABLE));
  }
  const backingOffset = backing.length ? headerLen + extBytes.length : 0;
  if (headerLen + extBytes.length + backing.length > cs) {
    throw new BlockError('INVALID', 'header, extensions and backing file name do not fit in one cluster');
  }
  const h: Qcow2Header = {
    version: o.version,
    backingFileOffset: backingOffset,
    backingFileSize: backing.length,
    clusterBits: log2(cs),
    size: o.size,
    cryptMethod: 0,
    l1Size: l1Entries,
    l1TableOffset: l1Offset,
    refcountTableOffset: rtOffset,
    refcountTableClusters: rt,
    nbSnapshots: 0,
    snapshotsOffset: 0,
    incompatibleFeatures:
      (o.compressionType === 'zstd' ? INCOMPAT.COMPRESSION : 0n) | (o.extendedL2 ? INCOMPAT.EXTL2 : 0n),
    compatibleFeatures: o.lazyRefcounts ? COMPAT.LAZY_REFCOUNTS : 0n,
    autoclearFeatures: 0n,
    refcountOrder: log2(o.refcountBits),
    headerLength: headerLen,
    compressionType: o.compressionType === 'zstd' ? 1 : 0,
    extraFields: Buffer.alloc(0),
  };
  const cluster0 = Buffer.alloc(cs);
  encodeHeader(h).copy(cluster0, 0);
  extBytes.copy(cluster0, headerLen);
  backing.copy(cluster0, headerLen + extBytes.length);

  const table = Buffer.alloc(rt * cs);
  for (let i = 0; i < rb; i++) encodeRefcountTableEntry(table, i, rbOffset + i * cs);
  const blocks = Buffer.alloc(rb * cs);
  for (let c = 0; c < total; c++) {
    const k = Math.floor(c / E);
    setRefcount(blocks.subarray(k * cs, (k + 1) * cs), c % E, o.refcountBits, 1);
  }

  try {
    fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    fs.writeFileSync(file, '');
  } catch (err) {
    throw fromSystemError(err, `cannot create ${file}`);
  }
  const hf = await HostFile.open(file, {});
  try {
    await hf.pwrite(0, cluster0);
    await hf.pwrite(rtOffset, table);
    await hf.pwrite(rbOffset, blocks);
    await hf.truncate(total * cs);
    await hf.flush();
  } finally {
    await hf.close();
  }
  return h;
}
