/**
 * Failed commands. A handler throws a `ScsiError` (sense key, ASC/ASCQ, optional INFORMATION and
 * sense-key specific bytes); the dispatcher turns it into CHECK CONDITION with sense data in the
 * format the control mode page asks for. Nothing else builds CHECK CONDITION, so a failure can
 * never go out as CHECK CONDITION with NO SENSE (STYLE.md anti-patterns).
 *
 * `senseFromBlockError` is the one place where BlockError codes become sense (STYLE.md
 * convention 7).
 */
import { isBlockError } from '../util/index.js';
import { ASC, SenseKey, describeSense } from './sense-codes.js';
import { fieldPointerSks, type FieldPointer } from './sense.js';

export class ScsiError extends Error {
  readonly key: number;
  readonly asc: number;
  readonly information: bigint | undefined;
  readonly senseKeySpecific: number | undefined;

  constructor(key: number, asc: number, opts: { information?: bigint; sks?: number; message?: string } = {}) {
    super(opts.message ?? describeSense(key, asc));
    this.name = 'ScsiError';
    this.key = key;
    this.asc = asc;
    this.information = opts.information;
    this.senseKeySpecific = opts.sks;
  }
}

/** ILLEGAL REQUEST / INVALID FIELD IN CDB with the field pointer (SPC-4 §4.5.2.4.2). */
export function invalidCdbField(byte: number, bit?: number): ScsiError {
  const p: FieldPointer = bit === undefined ? { cdb: true, byte } : { cdb: true, byte, bit };
  return new ScsiError(SenseKey.ILLEGAL_REQUEST, ASC.INVALID_FIELD_IN_CDB, { sks: fieldPointerSks(p) });
}

/** ILLEGAL REQUEST / INVALID FIELD IN PARAMETER LIST with the field pointer. */
export function invalidParamField(byte: number, bit?: number): ScsiError {
  const p: FieldPointer = bit === undefined ? { cdb: false, byte } : { cdb: false, byte, bit };
  return new ScsiError(SenseKey.ILLEGAL_REQUEST, ASC.INVALID_FIELD_IN_PARAMETER_LIST, {
    sks: fieldPointerSks(p),
  });
}

export function illegalRequest(asc: number): ScsiError {
  return new ScsiError(SenseKey.ILLEGAL_REQUEST, asc);
}

export const lbaOutOfRange = (): ScsiError => illegalRequest(ASC.LBA_OUT_OF_RANGE);
export const invalidOpcode = (): ScsiError => illegalRequest(ASC.INVALID_COMMAND_OPERATION_CODE);
export const parameterListLengthError = (): ScsiError => illegalRequest(ASC.PARAMETER_LIST_LENGTH_ERROR);
export const writeProtected = (): ScsiError => new ScsiError(SenseKey.DATA_PROTECT, ASC.WRITE_PROTECTED);

/** Which way the failed block request went, for MEDIUM ERROR's ASC (flushes count as writes). */
export type IoDirection = 'read' | 'write';

/**
 * The one translation of block-layer failures into sense data (SPC-4 Annex D).
 * Anything that is not a BlockError is a bug below us: HARDWARE ERROR / INTERNAL TARGET FAILURE.
 */
export function senseFromBlockError(err: unknown, dir: IoDirection): ScsiError {
  if (err instanceof ScsiError) return err;
  if (!isBlockError(err)) {
    return new ScsiError(SenseKey.HARDWARE_ERROR, ASC.INTERNAL_TARGET_FAILURE, { message: String(err) });
  }
  const m = { message: err.message };
  switch (err.code) {
    case 'OUT_OF_RANGE':
      return new ScsiError(SenseKey.ILLEGAL_REQUEST, ASC.LBA_OUT_OF_RANGE, m);
    case 'INVALID':
      return new ScsiError(SenseKey.ILLEGAL_REQUEST, ASC.INVALID_FIELD_IN_CDB, m);
    case 'READ_ONLY':
      return new ScsiError(SenseKey.DATA_PROTECT, ASC.WRITE_PROTECTED, m);
    case 'NO_SPACE':
      return new ScsiError(SenseKey.DATA_PROTECT, ASC.SPACE_ALLOCATION_FAILED_WRITE_PROTECT, m);
    case 'IO':
      return new ScsiError(
        SenseKey.MEDIUM_ERROR,
        dir === 'read' ? ASC.UNRECOVERED_READ_ERROR : ASC.WRITE_ERROR,
        m,
      );
    case 'NOT_SUPPORTED':
      return new ScsiError(SenseKey.ILLEGAL_REQUEST, ASC.INVALID_FIELD_IN_CDB, m);
    case 'CORRUPT':
    case 'BAD_FORMAT':
      return new ScsiError(
        SenseKey.MEDIUM_ERROR,
        dir === 'read' ? ASC.UNRECOVERED_READ_ERROR : ASC.WRITE_ERROR,
        m,
      );
    case 'LOCKED':
    case 'NOT_FOUND':
      return new ScsiError(SenseKey.NOT_READY, ASC.MEDIUM_NOT_PRESENT, m);
  }
}
