/**
 * The SCSI command core (DESIGN.md): transport-agnostic SPC-4/SBC-3 logical units over the
 * image engine's BlockDevice.
 */
export * from './task.js';
