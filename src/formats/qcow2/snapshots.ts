/**
 * Internal snapshots (docs/interop/qcow2.txt, "Snapshots"): create, apply, delete, list.
 *
 * References follow the spec's model, which `check` counts the same way: every walk of an L1
 * table counts one reference to each L2 table it names and, through each of those tables, one to
 * each data cluster. So a snapshot adds one to every table and cluster reachable from the L1
 * table it copies; deleting it removes one again. Shared clusters and tables (refcount > 1) lose
 * their COPIED flag, and writes then copy them first (data-path.ts, cluster-map.ts).
 *
 * Crash ordering: references are added before anything points at them and removed only after
 * nothing does, so an interrupted operation can leak clusters but never free one in use. The
 * snapshot table is written to new clusters and synced before the header switches to it.
 * Callers drain the image and hold `meta`.
 */
import { BlockError } from '../../util/index.js';
import type { ClusterMap } from './cluster-map.js';
import { compressedClusters, decodeL1Entry, decodeL2Entry, encodeL1Entry, setL2Copied } from './entries.js';
import type { Refcounts } from './refcounts.js';
import { encodeSnapshotTable, type SnapshotEntry } from './snapshot-table.js';
import type { Qcow2State } from './state.js';

export interface SnapshotInfo {
  id: string;
  name: string;
  vmStateSize: number;
  date: Date;
  vmClockNsec: bigint;
  /** Virtual disk size when the snapshot was taken, when recorded. */
  diskSize: number | undefined;
  icount: bigint | undefined;
}

export function snapshotInfo(e: SnapshotEntry): SnapshotInfo {
  const big = e.extra.length >= 8 ? Number(e.extra.readBigUInt64BE(0)) : undefined;
  return {
    id: e.id,
    name: e.name,
    vmStateSize: big ?? e.vmStateSize32,
    date: new Date(e.dateSec * 1000 + Math.floor(e.dateNsec / 1e6)),
    vmClockNsec: e.vmClockNsec,
    diskSize: e.extra.length >= 16 ? Number(e.extra.readBigUInt64BE(8)) : undefined,
    icount: e.extra.length >= 24 ? e.extra.readBigUInt64BE(16) : undefined,
  };
}

export class Snapshots {
  constructor(
    private readonly s: Qcow2State,
    private readonly rc: Refcounts,
    private readonly map: ClusterMap,
    public entries: SnapshotEntry[],
    private tableSize: number,
  ) {}

  /** qemu's lookup: by ID first, then by name. */
  find(nameOrId: string): SnapshotEntry {
    const e = this.entries.find((x) => x.id === nameOrId) ?? this.entries.find((x) => x.name === nameOrId);
    if (!e) throw new BlockError('NOT_FOUND', `Can't find the snapshot '${nameOrId}'`);
    return e;
  }

  async create(name: string): Promise<void> {
    const { s, map } = this;
    if (!name) throw new BlockError('INVALID', 'a snapshot needs a name');
    if (this.entries.length >= 65536) throw new BlockError('NO_SPACE', 'too many snapshots');
    const cs = s.clusterSize;
    const l1Size = map.l1Size;
    await this.adjustTree(map.l1, l1Size, 1);
    await this.refreshCopied();
    let l1Off = 0;
    if (l1Size > 0) {
      const clusters = Math.ceil((l1Size * 8) / cs);
      l1Off = await this.rc.allocate(clusters);
      await s.file.pwrite(l1Off, map.l1.subarray(0, l1Size * 8));
      for (let c = 0; c < clusters; c++) s.metadataClusters.add(l1Off + c * cs);
    }
    const now = Date.now();
    const extra = Buffer.alloc(24);
    extra.writeBigUInt64BE(0n, 0); // vm_state_size_large
    extra.writeBigUInt64BE(BigInt(s.header.size), 8); // disk_size
    extra.writeBigUInt64BE(0n, 16); // icount, as qemu-img snapshot -c writes it
    const ids = this.entries.map((e) => Number(e.id)).filter((n) => Number.isInteger(n));
    const entry: SnapshotEntry = {
      l1TableOffset: l1Off,
      l1Size,
      id: String(ids.length ? Math.max(...ids) + 1 : 1),
      name,
      dateSec: Math.floor(now / 1000),
      dateNsec: (now % 1000) * 1e6,
      vmClockNsec: 0n,
      vmStateSize32: 0,
      extra,
    };
    await this.writeTable([...this.entries, entry]);
  }

  async apply(nameOrId: string): Promise<void> {
    const { s, map } = this;
    const e = this.find(nameOrId);
    const snapL1 = await this.readL1(e);
    await this.adjustTree(snapL1, e.l1Size, 1);
    // The snapshot's tree is counted twice on disk before the active L1 table points at it.
    await this.rc.writeDirty();
    await s.file.flush();
    if (e.l1Size > map.l1Size) await map.growL1(e.l1Size);
    const oldSize = map.l1Size;
    const oldL1 = Buffer.from(map.l1.subarray(0, oldSize * 8));
    map.l1.fill(0, 0, oldSize * 8);
    snapL1.copy(map.l1, 0, 0, e.l1Size * 8);
    await s.file.pwrite(s.header.l1TableOffset, map.l1.subarray(0, oldSize * 8));
    await s.file.flush();
    map.clearCache();
    const diskSize = snapshotInfo(e).diskSize;
    if (diskSize !== undefined && diskSize !== s.header.size) {
      s.header.size = diskSize;
      await s.writeHeaderFields();
    }
    for (let i = 0; i < e.l1Size; i++) {
      const x = decodeL1Entry(snapL1, i, s.clusterSize);
      if (x.kind === 'table') s.metadataClusters.add(x.offset);
    }
    await this.adjustTree(oldL1, oldSize, -1);
    await this.refreshCopied();
  }

  async delete(nameOrId: string): Promise<void> {
    const { s } = this;
    const e = this.find(nameOrId);
    await this.writeTable(this.entries.filter((x) => x !== e));
    const snapL1 = await this.readL1(e);
    await this.adjustTree(snapL1, e.l1Size, -1);
    const clusters = Math.ceil((e.l1Size * 8) / s.clusterSize);
    if (clusters) {
      await this.rc.adjust(e.l1TableOffset / s.clusterSize, clusters, -1);
      for (let c = 0; c < clusters; c++) s.metadataClusters.delete(e.l1TableOffset + c * s.clusterSize);
    }
    await this.refreshCopied();
  }

  private async readL1(e: SnapshotEntry): Promise<Buffer> {
    const s = this.s;
    if (e.l1Size > (32 * 1024 * 1024) / 8) throw s.markCorrupt(`snapshot ${e.id} has an oversized L1 table`);
    if (e.l1TableOffset % s.clusterSize !== 0 || e.l1TableOffset + e.l1Size * 8 > s.file.size) {
      throw s.markCorrupt(`snapshot ${e.id} L1 table is out of bounds`);
    }
    const l1 = Buffer.alloc(e.l1Size * 8);
    await s.file.pread(e.l1TableOffset, l1);
    return l1;
  }

  /** Writes the snapshot table to new clusters, switches the header to it, frees the old one. */
  private async writeTable(entries: SnapshotEntry[]): Promise<void> {
    const { s } = this;
    const cs = s.clusterSize;
    const buf = encodeSnapshotTable(entries);
    let off = 0;
    if (buf.length) {
      off = await this.rc.allocate(Math.ceil(buf.length / cs));
      await s.file.pwrite(off, buf);
      await s.file.flush();
    }
    // Every reference the new table adds must be counted on disk before the header names it.
    await this.rc.writeDirty();
    await s.file.flush();
    const oldOff = s.header.snapshotsOffset;
    const oldClusters = s.header.nbSnapshots ? Math.ceil(this.tableSize / cs) : 0;
    s.header.nbSnapshots = entries.length;
    s.header.snapshotsOffset = off;
    await s.writeHeaderFields();
    for (let c = 0; c < Math.ceil(buf.length / cs); c++) s.metadataClusters.add(off + c * cs);
    for (let c = 0; c < oldClusters; c++) s.metadataClusters.delete(oldOff + c * cs);
    if (oldClusters) await this.rc.adjust(oldOff / cs, oldClusters, -1);
    this.entries = entries;
    this.tableSize = buf.length;
  }

  /** Adds `delta` to every L2 table and data cluster reachable from `l1`, in sorted batches. */
  private async adjustTree(l1: Buffer, l1Size: number, delta: 1 | -1): Promise<void> {
    const { s, map } = this;
    const cs = s.clusterSize;
    const deltas = new Map<number, number>();
    const add = (c: number): void => {
      deltas.set(c, (deltas.get(c) ?? 0) + delta);
    };
    const tables: number[] = [];
    for (let i = 0; i < l1Size; i++) {
      const x = decodeL1Entry(l1, i, cs);
      if (x.kind === 'invalid') throw s.markCorrupt(x.reason);
      if (x.kind !== 'table') continue;
      tables.push(x.offset);
      add(x.offset / cs);
      const t = await map.table(x.offset);
      for (let j = 0; j < s.l2Entries; j++) {
        const y = decodeL2Entry(t, j, s.clusterBits, s.v3, s.extL2);
        if ((y.kind === 'normal' || y.kind === 'zero' || y.kind === 'partial') && y.hostOffset)
          add(y.hostOffset / cs);
        else if (y.kind === 'compressed') for (const c of compressedClusters(y, cs)) add(c / cs);
        else if (y.kind === 'invalid') throw s.markCorrupt(y.reason);
      }
    }
    const keys = [...deltas.keys()].sort((a, b) => a - b);
    for (let k = 0; k < keys.length;) {
      let m = k + 1;
      while (m < keys.length && keys[m] === keys[m - 1]! + 1) m++;
      await this.rc.setRange(keys[k]!, m - k, (c, old) => old + deltas.get(c)!);
      k = m;
    }
    for (const off of tables) {
      if ((await this.rc.get(off / cs)) === 0) s.metadataClusters.delete(off);
    }
  }

  /** Sets COPIED on active L1 and L2 entries exactly where the refcount is 1. */
  async refreshCopied(): Promise<void> {
    const { s, map, rc } = this;
    const cs = s.clusterSize;
    for (let i = 0; i < map.l1Size; i++) {
      const x = decodeL1Entry(map.l1, i, cs);
      if (x.kind !== 'table') continue;
      const own = (await rc.get(x.offset / cs)) === 1;
      if (own !== x.copied) {
        encodeL1Entry(map.l1, i, x.offset, own);
        await s.file.pwrite(s.header.l1TableOffset + i * 8, map.l1.subarray(i * 8, i * 8 + 8));
      }
      const t = await map.table(x.offset);
      let changed = false;
      for (let j = 0; j < s.l2Entries; j++) {
        const y = decodeL2Entry(t, j, s.clusterBits, s.v3, s.extL2);
        if ((y.kind !== 'normal' && y.kind !== 'zero' && y.kind !== 'partial') || !y.hostOffset) continue;
        const want = (await rc.get(y.hostOffset / cs)) === 1;
        if (want !== y.copied) {
          setL2Copied(t, j, s.extL2, want);
          changed = true;
        }
      }
      if (changed) await s.file.pwrite(x.offset, t);
    }
  }
}
