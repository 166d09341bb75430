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
 */
import type { BlockDevice, Extent, WriteOptions, ZeroOptions } from '../block/index.js';
import type { LogicalUnit } from './logical-unit.js';

export function sharedDevice(lu: LogicalUnit): BlockDevice {
  const dev = lu.device;
  const span = (offset: number, length: number): [number, number] => [offset, offset + Math.max(1, length)];
  return {
    get size(): number {
      return dev.size;
    },
    caps: dev.caps,
    read: (offset: number, buf: Buffer): Promise<void> => dev.read(offset, buf),
    write: (offset: number, data: Buffer, opts?: WriteOptions): Promise<void> =>
      lu.atomic.run(...span(offset, data.length), false, () => dev.write(offset, data, opts)),
    flush: (): Promise<void> => dev.flush(),
    discard: (offset: number, length: number): Promise<void> =>
      lu.atomic.run(...span(offset, length), false, () => dev.discard(offset, length)),
    writeZeroes: (offset: number, length: number, opts?: ZeroOptions): Promise<void> =>
      lu.atomic.run(...span(offset, length), false, () => dev.writeZeroes(offset, length, opts)),
    blockStatus: (offset: number, length: number): Promise<Extent[]> => dev.blockStatus(offset, length),
    close: (): Promise<void> => dev.flush(),
  };
}
