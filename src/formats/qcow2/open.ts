/**
 * Opening a qcow2 file: the header and its extensions are validated in qemu's terms (unknown
 * incompatible features refuse the open and are named; unsupported features fail with "not
 * supported yet"), then the refcount table, the L1 table and the snapshot table are loaded and
 * every metadata cluster is registered so that data can never be written over it.
 */
import type { HostFile } from '../../block/index.js';
import { BlockError } from '../../util/index.js';
import { ClusterMap } from './cluster-map.js';
import { decodeExtensions, decodeFeatureTable, EXT, type HeaderExtension } from './header-ext.js';
import { decodeHeader, INCOMPAT, unknownBits } from './header.js';
import { Refcounts } from './refcounts.js';
import { decodeSnapshotTable, MAX_SNAPSHOT_TABLE, type SnapshotEntry } from './snapshot-table.js';
import { Qcow2State } from './state.js';

const KNOWN_INCOMPAT =
  INCOMPAT.DIRTY | INCOMPAT.CORRUPT | INCOMPAT.DATA_FILE | INCOMPAT.COMPRESSION | INCOMPAT.EXTL2;

export interface OpenedQcow2 {
  s: Qcow2State;
  rc: Refcounts;
  map: ClusterMap;
  exts: HeaderExtension[];
  backingName: string | undefined;
  snapshots: SnapshotEntry[];
  snapshotTableSize: number;
}

export async function loadQcow2(
  hf: HostFile,
  file: string,
  readOnly: boolean,
  forRepair = false,
): Promise<OpenedQcow2> {
  const first = Buffer.alloc(4096);
  await hf.pread(0, first);
  const h = decodeHeader(first);
  if (h.clusterBits < 9 || h.clusterBits > 21) {
    throw new BlockError('CORRUPT', `qcow2 cluster_bits ${h.clusterBits} is out of range (9 to 21)`);
  }
  const cs = 2 ** h.clusterBits;
  const cluster0 = Buffer.alloc(cs);
  await hf.pread(0, cluster0);
  const unknown = unknownBits(h.incompatibleFeatures, KNOWN_INCOMPAT);
  let exts: HeaderExtension[] = [];
  const extEnd = h.backingFileOffset && h.backingFileOffset < cs ? h.backingFileOffset : cs;
  if (h.version === 3 || extEnd > h.headerLength) {
    exts = decodeExtensions(cluster0, h.headerLength, Math.max(extEnd, h.headerLength + 8)).exts;
  }
  if (unknown.length) {
    const table = exts.find((e) => e.type === EXT.FEATURE_TABLE);
    const names = table ? decodeFeatureTable(table.data) : [];
    const what = unknown.map((b) => {
      const n = names.find((f) => f.type === 0 && f.bit === b);
      return n ? `bit ${b} (${n.name})` : `bit ${b}`;
    });
    throw new BlockError(
      'NOT_SUPPORTED',
      `qcow2 image ${file} uses unsupported incompatible features: ${what.join(', ')}`,
    );
  }
  if (h.cryptMethod !== 0)
    throw new BlockError('NOT_SUPPORTED', `encrypted qcow2 images are not supported (${file})`);
  if (h.incompatibleFeatures & INCOMPAT.DATA_FILE) {
    throw new BlockError(
      'NOT_SUPPORTED',
      `qcow2 images with an external data file are not supported yet (${file})`,
    );
  }
  if (h.incompatibleFeatures & INCOMPAT.EXTL2 && h.clusterBits < 14) {
    throw new BlockError(
      'CORRUPT',
      `qcow2 image ${file} has extended L2 entries with clusters smaller than 16 KiB`,
    );
  }
  if (h.refcountOrder > 6)
    throw new BlockError('CORRUPT', `qcow2 refcount_order ${h.refcountOrder} is out of range`);
  if (h.compressionType > 1)
    throw new BlockError('NOT_SUPPORTED', `unknown qcow2 compression type ${h.compressionType}`);
  const markedCorrupt = (h.incompatibleFeatures & INCOMPAT.CORRUPT) !== 0n;
  if (!readOnly && markedCorrupt && !forRepair) {
    throw new BlockError(
      'CORRUPT',
      `qcow2 image ${file} is marked corrupt; it cannot be opened read/write (repair it with vdisk img check -r all)`,
    );
  }
  let backingName: string | undefined;
  if (h.backingFileOffset) {
    if (h.backingFileSize > 1023 || h.backingFileOffset + h.backingFileSize > cs) {
      throw new BlockError('CORRUPT', `qcow2 backing file name of ${file} is out of bounds`);
    }
    backingName = cluster0.toString('utf8', h.backingFileOffset, h.backingFileOffset + h.backingFileSize);
  }
  const s = new Qcow2State(hf, h, readOnly);
  // Opened for repair: metadata may be fixed, data writes stay refused until the bit is cleared.
  if (markedCorrupt) s.corruptReason = 'the image is marked corrupt';
  s.metadataClusters.add(0);
  for (let c = 0; c < h.refcountTableClusters; c++) s.metadataClusters.add(h.refcountTableOffset + c * cs);
  if (h.refcountTableOffset === 0 || h.refcountTableOffset % cs !== 0) {
    throw s.markCorrupt('refcount table offset is invalid');
  }
  const rc = await Refcounts.load(s);
  const map = await ClusterMap.load(s, rc);
  const snap = h.nbSnapshots > 0 ? await loadSnapshots(s) : { entries: [], size: 0 };
  return { s, rc, map, exts, backingName, snapshots: snap.entries, snapshotTableSize: snap.size };
}

/** Reads the snapshot table and registers it and the snapshots' L1 tables as metadata. */
async function loadSnapshots(s: Qcow2State): Promise<{ entries: SnapshotEntry[]; size: number }> {
  const h = s.header;
  if (h.snapshotsOffset % s.clusterSize !== 0)
    throw s.markCorrupt('snapshot table offset is not cluster aligned');
  const avail = Math.min(MAX_SNAPSHOT_TABLE, s.file.size - h.snapshotsOffset);
  if (avail <= 0) throw s.markCorrupt('snapshot table is past the end of the file');
  // Entries are usually small: read a little first, and everything up to the cap only if needed.
  let table: { entries: SnapshotEntry[]; size: number } | undefined;
  for (const want of [Math.min(avail, h.nbSnapshots * 1200 + 4096), avail]) {
    const buf = Buffer.alloc(want);
    await s.file.pread(h.snapshotsOffset, buf);
    try {
      table = decodeSnapshotTable(buf, h.nbSnapshots);
      break;
    } catch (err) {
      if (want === avail) throw s.markCorrupt((err as Error).message);
    }
  }
  for (let c = 0; c < Math.ceil(table!.size / s.clusterSize); c++)
    s.metadataClusters.add(h.snapshotsOffset + c * s.clusterSize);
  for (const e of table!.entries) {
    for (let c = 0; c < Math.ceil((e.l1Size * 8) / s.clusterSize); c++)
      s.metadataClusters.add(e.l1TableOffset + c * s.clusterSize);
  }
  return table!;
}
