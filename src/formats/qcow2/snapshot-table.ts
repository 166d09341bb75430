/**
 * The internal snapshot table (docs/interop/qcow2.txt, "Snapshots"): `nb_snapshots` variable-length
 * entries at `snapshots_offset`, each padded to 8 bytes. Extra data and VM-state fields are kept
 * verbatim so that a rewrite preserves them.
 */
import { BlockError, toSafeNumber } from '../../util/index.js';

export const SNAPSHOT_FIXED_SIZE = 40;
/** qcow2 caps the table at 64 MiB; so do we, before allocating anything. */
export const MAX_SNAPSHOT_TABLE = 64 * 1024 * 1024;

export interface SnapshotEntry {
  l1TableOffset: number;
  l1Size: number;
  id: string;
  name: string;
  dateSec: number;
  dateNsec: number;
  vmClockNsec: bigint;
  vmStateSize32: number;
  /** Extra data (bytes 40 onward): vm_state_size_large u64, disk_size u64, then unknown fields. */
  extra: Buffer;
}

export function decodeSnapshotTable(buf: Buffer, count: number): { entries: SnapshotEntry[]; size: number } {
  const entries: SnapshotEntry[] = [];
  let off = 0;
  for (let i = 0; i < count; i++) {
    if (off + SNAPSHOT_FIXED_SIZE > buf.length)
      throw new BlockError('CORRUPT', `snapshot table entry ${i} is truncated`);
    const idLen = buf.readUInt16BE(off + 12);
    const nameLen = buf.readUInt16BE(off + 14);
    const extraLen = buf.readUInt32BE(off + 36);
    const total = SNAPSHOT_FIXED_SIZE + extraLen + idLen + nameLen;
    if (extraLen > 1024 || off + total > buf.length)
      throw new BlockError('CORRUPT', `snapshot table entry ${i} is too long`);
    const p = off + SNAPSHOT_FIXED_SIZE;
    entries.push({
      l1TableOffset: toSafeNumber(buf.readBigUInt64BE(off), 'snapshot L1 table offset'),
      l1Size: buf.readUInt32BE(off + 8),
      dateSec: buf.readUInt32BE(off + 16),
      dateNsec: buf.readUInt32BE(off + 20),
      vmClockNsec: buf.readBigUInt64BE(off + 24),
      vmStateSize32: buf.readUInt32BE(off + 32),
      extra: Buffer.from(buf.subarray(p, p + extraLen)),
      id: buf.toString('utf8', p + extraLen, p + extraLen + idLen),
      name: buf.toString('utf8', p + extraLen + idLen, p + extraLen + idLen + nameLen),
    });
    off += (total + 7) & ~7;
  }
  return { entries, size: off };
}

export function encodeSnapshotTable(entries: SnapshotEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const id = Buffer.from(e.id, 'utf8');
    const name = Buffer.from(e.name, 'utf8');
    const total = SNAPSHOT_FIXED_SIZE + e.extra.length + id.length + name.length;
    const b = Buffer.alloc((total + 7) & ~7);
    b.writeBigUInt64BE(BigInt(e.l1TableOffset), 0);
    b.writeUInt32BE(e.l1Size, 8);
    b.writeUInt16BE(id.length, 12);
    b.writeUInt16BE(name.length, 14);
    b.writeUInt32BE(e.dateSec, 16);
    b.writeUInt32BE(e.dateNsec, 20);
    b.writeBigUInt64BE(e.vmClockNsec, 24);
    b.writeUInt32BE(e.vmStateSize32, 32);
    b.writeUInt32BE(e.extra.length, 36);
    e.extra.copy(b, SNAPSHOT_FIXED_SIZE);
    id.copy(b, SNAPSHOT_FIXED_SIZE + e.extra.length);
    name.copy(b, SNAPSHOT_FIXED_SIZE + e.extra.length + id.length);
    parts.push(b);
  }
  return Buffer.concat(parts);
}
