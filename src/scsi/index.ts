/**
 * The SCSI command core (DESIGN.md): transport-agnostic SPC-4/SBC-3 logical units over the image
 * engine's BlockDevice.
 *
 * Public API (stable; transports and the control plane use only this):
 *
 *   const lu = new LogicalUnit(await openImage(path, { cache }), {
 *     uuid, vendor?, product?, revision?, ssd?, discard?: 'on' | 'ignore', readOnly?,
 *     cacheMode?, blockSize?: 512 | 4096,
 *   });
 *   const target = new ScsiTarget('iqn.2026-11.io.vdisk:t1');   // implements ScsiTaskRouter
 *   target.addLun(0, lu);                                          // removeLun(0), luns(), getLun(0)
 *   const res = await target.execute({ nexus, lun: 0, tag, cdb, attribute: 'simple',
 *                                      expectedLength, dataOut });   // never rejects
 *   await target.taskManagement({ nexus, lun: 0, fn: 'abort-task', referencedTag });
 *   target.nexusLost(nexus);
 *   lu.notifyCapacityChanged();                                   // after a resize
 *   await lu.drain();                  // shutdown: commands in flight and a background SANITIZE end
 *   lu.reservations = engine;          // issue 6: the reservation hook (a ReservationPolicy)
 *
 * - `ScsiResponse.transferLength` is the CDB's data length; the transport computes residuals
 *   against the Expected Data Transfer Length. `dataIn` never exceeds it.
 * - `MAX_TRANSFER_BYTES` (32 MiB) is the largest data transfer of one command (VPD B0h MAXIMUM
 *   TRANSFER LENGTH); transports size Data-Out buffers with it.
 * - A CDB shorter than 16 bytes is zero-padded; a tag reused while its task is in flight is an
 *   overlapped command (SAM-5 §5.10).
 * - The LU does not own its device: the caller drains the LU, then flushes and closes the device.
 * - Aborted tasks resolve with status TASK ABORTED and `aborted: true` after their block I/O ended.
 * - A write whose Data-Out is shorter than the CDB asks for writes the whole blocks received and
 *   returns GOOD (libiscsi's residual tests); a partial block is INVALID FIELD IN COMMAND
 *   INFORMATION UNIT.
 */
export * from './task.js';
export { LogicalUnit, noReservations } from './logical-unit.js';
export type {
  LogicalUnitOptions,
  DiscardPolicy,
  NexusState,
  ReservationPolicy,
  SanitizeState,
} from './logical-unit.js';
export { ScsiTarget } from './target.js';
export { MAX_TRANSFER_BYTES } from './commands/limits.js';
export { COMMANDS } from './commands/table.js';
export { SenseKey, ASC, describeSense } from './sense-codes.js';
export { decodeSense, encodeSense, type SenseData } from './sense.js';
export { ScsiError, senseFromBlockError } from './errors.js';
export { decodeLun, encodeLun } from './data/report-luns.js';
export { COMMAND_CHANNEL, type ScsiCommandEvent } from './diagnostics.js';
export * from './reservations/index.js';
export { sharedDevice, SHARED_VIEW_NEXUS } from './shared-device.js';
