/**
 * `vdisk img snapshot`: list, create, apply and delete internal snapshots (qcow2), as
 * `qemu-img snapshot -l | -c NAME | -a NAME | -d NAME`.
 *
 * -l prints qemu-img's table (block/snapshot.c, bdrv_snapshot_dump) byte for byte: a header
 * "%-10s%-17s%8s%20s%13s%11s", then one "%-9s %-16s %8s%20s%13s%11s" row per snapshot with its
 * VM state size in qemu's size_to_str, its date in local time, its VM clock as
 * hh:mm:ss.mmm and its instruction count (blank when the snapshot has none). An image without
 * snapshots, or of a format without them, prints nothing. -a and -d take a snapshot ID or name
 * (an ID wins), as qemu-img does. Failures say which snapshot, in qemu-img's words.
 */
import { openImage, type ImageFormat, type SnapshotInfo } from '../formats/index.js';
import { BlockError, UsageError } from '../util/index.js';
import { errorMessage, print } from './output.js';
import { asQcow2 } from './qcow2-ops.js';
import { sizeToStr } from './units.js';

export type SnapshotAction =
  | { kind: 'list' }
  | { kind: 'create'; name: string }
  | { kind: 'apply'; name: string }
  | { kind: 'delete'; name: string };

export interface SnapshotOptions {
  format?: ImageFormat;
  quiet?: boolean;
  forceShare?: boolean;
}

/** Exactly one of -l, -c, -a, -d. */
export function snapshotAction(o: {
  list?: boolean;
  create?: string;
  apply?: string;
  delete?: string;
}): SnapshotAction {
  const actions: SnapshotAction[] = [];
  if (o.list) actions.push({ kind: 'list' });
  if (o.create !== undefined) actions.push({ kind: 'create', name: o.create });
  if (o.apply !== undefined) actions.push({ kind: 'apply', name: o.apply });
  if (o.delete !== undefined) actions.push({ kind: 'delete', name: o.delete });
  if (actions.length > 1) throw new UsageError("Cannot mix '-l', '-a', '-c', '-d'");
  if (actions.length === 0)
    throw new UsageError("missing action: use one of '-l', '-c NAME', '-a NAME', '-d NAME'");
  return actions[0]!;
}

export async function imgSnapshot(
  file: string,
  action: SnapshotAction,
  opts: SnapshotOptions,
): Promise<number> {
  const list = action.kind === 'list';
  const image = await openImage(file, {
    format: opts.format,
    readOnly: list,
    lock: !(list && opts.forceShare),
    openBacking: false,
  });
  try {
    if (action.kind === 'list') {
      if (image.format !== 'qcow2') return 0;
      const snaps = asQcow2(image, 'snapshots').listSnapshots();
      if (snaps.length) print(snapshotTable(snaps));
      return 0;
    }
    const verb = { create: 'create', apply: 'apply', delete: 'delete' }[action.kind];
    try {
      const q = asQcow2(image, 'snapshots');
      if (action.kind === 'create') await q.createSnapshot(action.name);
      else if (action.kind === 'apply') await q.applySnapshot(action.name);
      else await q.deleteSnapshot(action.name);
    } catch (err) {
      const code = err instanceof BlockError ? err.code : 'IO';
      throw new BlockError(code, `Could not ${verb} snapshot '${action.name}': ${errorMessage(err)}`, {
        cause: err,
      });
    }
  } finally {
    await image.close();
  }
  return 0;
}

/** dump_snapshots: "Snapshot list:", the header and one line per snapshot. */
export function snapshotTable(snaps: SnapshotInfo[]): string {
  const header =
    'ID'.padEnd(10) +
    'TAG'.padEnd(17) +
    'VM SIZE'.padStart(8) +
    'DATE'.padStart(20) +
    'VM CLOCK'.padStart(13) +
    'ICOUNT'.padStart(11);
  return ['Snapshot list:', header, ...snaps.map(snapshotLine)].join('\n') + '\n';
}

function snapshotLine(sn: SnapshotInfo): string {
  // qemu stores "no instruction count" as -1 (all ones in the unsigned field).
  const signed = sn.icount === undefined ? -1n : BigInt.asIntN(64, BigInt(sn.icount));
  const icount = signed === -1n ? '' : String(signed);
  return (
    `${sn.id.padEnd(9)} ${sn.name.padEnd(16)} ` +
    sizeToStr(sn.vmStateSize).padStart(8) +
    localDate(sn.date).padStart(20) +
    vmClock(sn.vmClockNsec).padStart(13) +
    icount.padStart(11)
  );
}

const two = (n: number): string => String(n).padStart(2, '0');

/** g_date_time_format(local, "%Y-%m-%d %H:%M:%S"). */
function localDate(d: Date): string {
  return (
    `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ` +
    `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`
  );
}

/** "%02d:%02d:%02d.%03d" of the VM clock. */
function vmClock(nsec: bigint): string {
  const secs = Number(nsec / 1_000_000_000n);
  const ms = Number((nsec / 1_000_000n) % 1000n);
  const h = Math.floor(secs / 3600);
  return `${two(h)}:${two(Math.floor(secs / 60) % 60)}:${two(secs % 60)}.${String(ms).padStart(3, '0')}`;
}
