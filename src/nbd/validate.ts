/**
 * The one edge check of a transmission-phase request (STYLE.md convention 6): every request is
 * checked here against the negotiated session before anything below nbd/ sees it, and the
 * command handlers (commands.ts) and the devices only assert. The answers are the spec's own
 * (proto.md "Error values", "Request types", "Block size constraints"):
 *
 * - "The server SHOULD return NBD_EINVAL if it receives an unknown command", "an unknown command
 *   flag", or "a request with a flag not explicitly documented as applicable to the given request".
 * - "it SHOULD return NBD_EPERM if it receives a write or trim request on a read-only export";
 *   likewise "a write zeroes request on a read-only export".
 * - "The server SHOULD return NBD_ENOSPC if it receives a write request including one or more
 *   sectors beyond the size of the device", and the same for write zeroes. "It SHOULD return
 *   NBD_EINVAL if it receives a read or trim request including one or more sectors beyond the size
 *   of the device", and the same for block status (and cache).
 * - "The server SHOULD report an NBD_EINVAL error if the client's request is not aligned to
 *   advertised minimum block size boundaries, or is larger than the advertised maximum block
 *   size" (for NBD_CMD_READ, NBD_CMD_WRITE and NBD_CMD_CACHE; trim, write zeroes and block status
 *   carry no payload and may be as long as their 32-bit length allows).
 * - "For a flush request, length and offset are reserved, and MUST be set to all-zero."
 * - "Servers SHOULD reply with NBD_EINVAL to clients sending NBD_CMD_BLOCK_STATUS without
 *   selecting at least one metadata context."
 * - NBD_CMD_FLAG_DF "MUST NOT be set unless the transmission flags include NBD_FLAG_SEND_DF", and
 *   NBD_CMD_FLAG_FAST_ZERO not unless NBD_FLAG_SEND_FAST_ZERO ("SHOULD fail with NBD_EINVAL").
 *
 * NBD_CMD_DISC has no reply and is not checked.
 */
import { NBD_CMD, NBD_CMD_FLAG, NBD_ERRNO, NBD_FLAG, nameOf, type NbdErrno } from './constants.js';
import type { Session } from './negotiation.js';
import type { RequestHeader } from './request.js';

export interface Rejection {
  errno: NbdErrno;
  message: string;
}

/** Flags documented as applicable to each command (NBD_CMD_FLAG_FUA is valid for all). */
const ALLOWED_FLAGS: Record<number, number> = {
  [NBD_CMD.READ]: NBD_CMD_FLAG.FUA | NBD_CMD_FLAG.DF,
  [NBD_CMD.WRITE]: NBD_CMD_FLAG.FUA,
  [NBD_CMD.FLUSH]: NBD_CMD_FLAG.FUA,
  [NBD_CMD.TRIM]: NBD_CMD_FLAG.FUA,
  [NBD_CMD.CACHE]: NBD_CMD_FLAG.FUA,
  [NBD_CMD.WRITE_ZEROES]: NBD_CMD_FLAG.FUA | NBD_CMD_FLAG.NO_HOLE | NBD_CMD_FLAG.FAST_ZERO,
  [NBD_CMD.BLOCK_STATUS]: NBD_CMD_FLAG.FUA | NBD_CMD_FLAG.REQ_ONE,
};

/** Returns why the request must fail, or undefined when it may run. */
export function validateRequest(h: RequestHeader, s: Session): Rejection | undefined {
  const exp = s.export;
  const allowed = ALLOWED_FLAGS[h.type];
  if (allowed === undefined) return reject(NBD_ERRNO.EINVAL, `unknown command ${h.type}`);
  if ((h.flags & ~allowed) !== 0) {
    return reject(
      NBD_ERRNO.EINVAL,
      `${cmdName(h)} does not take flags 0x${(h.flags & ~allowed).toString(16)}`,
    );
  }
  if (h.flags & NBD_CMD_FLAG.DF && !(s.flags & NBD_FLAG.SEND_DF)) {
    return reject(NBD_ERRNO.EINVAL, 'NBD_CMD_FLAG_DF needs structured replies');
  }
  if (h.flags & NBD_CMD_FLAG.FAST_ZERO && !(s.flags & NBD_FLAG.SEND_FAST_ZERO)) {
    return reject(NBD_ERRNO.EINVAL, 'NBD_CMD_FLAG_FAST_ZERO was not offered');
  }
  const writes = h.type === NBD_CMD.WRITE || h.type === NBD_CMD.WRITE_ZEROES || h.type === NBD_CMD.TRIM;
  if (writes && !exp.writable) return reject(NBD_ERRNO.EPERM, `${cmdName(h)} on a read-only export`);

  switch (h.type) {
    case NBD_CMD.FLUSH:
      if (h.offset !== 0 || h.length !== 0) {
        return reject(NBD_ERRNO.EINVAL, 'NBD_CMD_FLUSH must have offset and length 0');
      }
      return undefined;
    case NBD_CMD.BLOCK_STATUS:
      if (s.contexts.length === 0) {
        return reject(NBD_ERRNO.EINVAL, 'NBD_CMD_BLOCK_STATUS without a metadata context');
      }
      if (h.length === 0) return reject(NBD_ERRNO.EINVAL, 'NBD_CMD_BLOCK_STATUS of length 0');
      break;
    case NBD_CMD.READ:
    case NBD_CMD.WRITE:
    case NBD_CMD.CACHE:
      if (h.length > exp.sizes.maximum) {
        return reject(
          NBD_ERRNO.EINVAL,
          `${cmdName(h)} of ${h.length} bytes exceeds the maximum block size ${exp.sizes.maximum}`,
        );
      }
      break;
  }

  if (h.offset + h.length > exp.size) {
    const errno =
      h.type === NBD_CMD.WRITE || h.type === NBD_CMD.WRITE_ZEROES ? NBD_ERRNO.ENOSPC : NBD_ERRNO.EINVAL;
    return reject(
      errno,
      `${cmdName(h)} at ${h.offset} + ${h.length} is past the end of the export (${exp.size} bytes)`,
    );
  }
  const min = exp.sizes.minimum;
  if (min > 1 && (h.offset % min !== 0 || h.length % min !== 0)) {
    return reject(NBD_ERRNO.EINVAL, `${cmdName(h)} is not aligned to the minimum block size ${min}`);
  }
  return undefined;
}

/** The command's name for a message (only built when a request is refused). */
function cmdName(h: RequestHeader): string {
  return nameOf(NBD_CMD, 'NBD_CMD', h.type);
}

function reject(errno: NbdErrno, message: string): Rejection {
  return { errno, message };
}
