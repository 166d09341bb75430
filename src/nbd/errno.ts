/**
 * The one translation of block-layer failures into NBD error values (STYLE.md convention 7).
 * Every command that fails below the edge check goes through `toNbdErrno`; nothing else in nbd/
 * looks at a BlockError's code.
 *
 * proto.md "Error values" allows only EPERM, EIO, ENOMEM, EINVAL, ENOSPC, EOVERFLOW, ENOTSUP and
 * ESHUTDOWN on the wire; "The server SHOULD NOT return NBD_ENOMEM if at all possible". It "SHOULD
 * map the EDQUOT and EFBIG errors to NBD_ENOSPC" (util's fromSystemError already folds EDQUOT into
 * NO_SPACE).
 */
import { isBlockError, type BlockErrorCode } from '../util/index.js';
import { NBD_ERRNO, type NbdErrno } from './constants.js';

export function blockErrorToNbdErrno(code: BlockErrorCode): NbdErrno {
  switch (code) {
    case 'OUT_OF_RANGE':
    case 'INVALID':
      return NBD_ERRNO.EINVAL;
    case 'READ_ONLY':
      return NBD_ERRNO.EPERM;
    case 'NO_SPACE':
      return NBD_ERRNO.ENOSPC;
    case 'NOT_SUPPORTED':
      // Reaches a client only from NBD_CMD_FLAG_FAST_ZERO ("MUST fail quickly with NBD_ENOTSUP");
      // every other command has a fallback below the edge.
      return NBD_ERRNO.ENOTSUP;
    case 'IO':
    case 'CORRUPT':
    case 'LOCKED':
    case 'NOT_FOUND':
    case 'BAD_FORMAT':
      return NBD_ERRNO.EIO;
  }
}

/** The NBD error value for anything a device operation threw (a non-BlockError is a bug: EIO). */
export function toNbdErrno(err: unknown): NbdErrno {
  if (isBlockError(err)) return blockErrorToNbdErrno(err.code);
  const sys = (err as { code?: unknown } | null)?.code;
  if (sys === 'ENOSPC' || sys === 'EDQUOT' || sys === 'EFBIG') return NBD_ERRNO.ENOSPC;
  return NBD_ERRNO.EIO;
}
