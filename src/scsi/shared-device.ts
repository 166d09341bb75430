/**
 * The volume behind a logical unit, as a BlockDevice for other protocols of the same process
 * (`vdisk iscsi serve --nbd`): one owner serves one disk to iSCSI and NBD clients at once.
 *
 * COMPARE AND WRITE and EXTENDED COPY are atomic because they hold the LU's `atomic` range lock
 * exclusively, and every SCSI write path takes it shared. A write that reaches the device
 * around the SCSI core (an NBD WRITE, WRITE_ZEROES or TRIM) must take it too, or it could land
 * between a COMPARE AND WRITE's compare and its write. This view takes the lock shared over the
 * byte range of every modifying request; reads, block status and flushes go straight through.
 * Closing the view only flushes: the device belongs to whoever opened it.
 *
 * Persistent reservations: the clients of the view are never registered (NBD has no such
 * notion), so they are treated as one unregistered I_T nexus. A reservation that keeps
 * unregistered initiators from writing (every type) or from reading (the Exclusive Access types)
 * keeps them out too, and the request fails with READ_ONLY (NBD's EPERM): a node that a cluster
 * fenced off through iSCSI cannot write the disk through NBD either.
 */
import { BlockError } from '../util/index.js';
import type { BlockDevice, Extent, WriteOptions, ZeroOptions } from '../block/index.js';
import type { LogicalUnit } from './logical-unit.js';
import type { ItNexus } from './task.js';

/** The one identity of every client of a shared view, for the reservation check. */
export const SHARED_VIEW_NEXUS: ItNexus = Object.freeze({
  key: 'vdisk-shared-view,i,0x000000000000|vdisk-shared-view,t,0x0000',
  initiatorName: 'vdisk-shared-view',
  initiatorPort: 'vdisk-shared-view,i,0x000000000000',
  targetName: 'vdisk-shared-view',
  targetPort: 'vdisk-shared-view,t,0x0000',
  relativeTargetPortId: 0,
  targetPortGroup: 0,
  protocolId: 0x0f, // SPC-4 Table 362: no specific protocol
});

const READ_CDB = Buffer.from([0x28, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
const WRITE_CDB = Buffer.from([0x2a, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

/** The reservation conflict that keeps the view's clients from this access, if there is one. */
function refusal(lu: LogicalUnit, write: boolean): BlockError | undefined {
  const [name, cdb] = write ? ['WRITE (10)', WRITE_CDB] : ['READ (10)', READ_CDB];
  if (!lu.reservations.conflicts(SHARED_VIEW_NEXUS, name, cdb)) return undefined;
  return new BlockError(
    'READ_ONLY',
    `reservation conflict: a SCSI persistent reservation on this disk keeps unregistered clients from ${write ? 'writing' : 'reading'}`,
  );
}

export function sharedDevice(lu: LogicalUnit): BlockDevice {
  const dev = lu.device;
  /** A modifying request: admitted, then run under the atomic lock taken shared over its range. */
  const modify = (offset: number, length: number, fn: () => Promise<void>): Promise<void> => {
    const refused = refusal(lu, true);
    if (refused) return Promise.reject(refused);
    return lu.atomic.run(offset, offset + Math.max(1, length), false, fn);
  };
  return {
    get size(): number {
      return dev.size;
    },
    caps: dev.caps,
    read: (offset: number, buf: Buffer): Promise<void> => {
      const refused = refusal(lu, false);
      return refused ? Promise.reject(refused) : dev.read(offset, buf);
    },
    write: (offset: number, data: Buffer, opts?: WriteOptions): Promise<void> =>
      modify(offset, data.length, () => dev.write(offset, data, opts)),
    flush: (): Promise<void> => dev.flush(),
    discard: (offset: number, length: number): Promise<void> =>
      modify(offset, length, () => dev.discard(offset, length)),
    writeZeroes: (offset: number, length: number, opts?: ZeroOptions): Promise<void> =>
      modify(offset, length, () => dev.writeZeroes(offset, length, opts)),
    blockStatus: (offset: number, length: number): Promise<Extent[]> => dev.blockStatus(offset, length),
    close: (): Promise<void> => dev.flush(),
  };
}
