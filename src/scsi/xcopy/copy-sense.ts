/**
 * The additional sense codes of third-party copy (SPC-4 Annex D.2) that the core's sense-codes.ts
 * does not define, and the two ways an EXTENDED COPY fails (SPC-4 §6.3.1, §6.4):
 *
 * - before any data moves, a parameter list the copy manager cannot accept is ILLEGAL REQUEST with
 *   the ASC naming the problem (TOO MANY ... DESCRIPTORS, UNSUPPORTED ... TYPE CODE, INVALID FIELD
 *   IN PARAMETER LIST with the field pointer relative to the start of the parameter list,
 *   PARAMETER LIST LENGTH ERROR);
 * - a copy that cannot be carried out on its copy targets (a CSCD that names no logical unit this
 *   process serves, a NUL CSCD descriptor, a descriptor index past the CSCD list, an LBA range past
 *   a copy target's capacity, a write-protected destination) is COPY ABORTED.
 */
import { ScsiError } from '../errors.js';
import { SenseKey } from '../sense-codes.js';

/** `(ASC << 8) | ASCQ`, as in sense-codes.ts. */
export const CopyAsc = {
  OPERATION_IN_PROGRESS: 0x0016,
  UNREACHABLE_COPY_TARGET: 0x0804,
  COPY_TARGET_DEVICE_NOT_REACHABLE: 0x0d02,
  TOO_MANY_TARGET_DESCRIPTORS: 0x2606,
  UNSUPPORTED_TARGET_DESCRIPTOR_TYPE_CODE: 0x2607,
  TOO_MANY_SEGMENT_DESCRIPTORS: 0x2608,
  UNSUPPORTED_SEGMENT_DESCRIPTOR_TYPE_CODE: 0x2609,
  UNEXPECTED_INEXACT_SEGMENT: 0x260a,
  INLINE_DATA_LENGTH_EXCEEDED: 0x260b,
} as const;

const NAMES = new Map<number, string>(Object.entries(CopyAsc).map(([k, v]) => [v, k]));

function named(key: number, asc: number): ScsiError {
  return new ScsiError(key, asc, {
    message: `${key === SenseKey.COPY_ABORTED ? 'COPY_ABORTED' : 'ILLEGAL_REQUEST'}/${NAMES.get(asc) ?? asc.toString(16)}`,
  });
}

export const copyIllegal = (asc: number): ScsiError => named(SenseKey.ILLEGAL_REQUEST, asc);
export const copyAborted = (asc: number): ScsiError => named(SenseKey.COPY_ABORTED, asc);
