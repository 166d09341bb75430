/**
 * The NBD protocol's numbers, named as in NetworkBlockDevice/nbd doc/proto.md ("Values"), each
 * defined once. Names for logs and errors are derived from these tables (`nameOf`), never kept in
 * a second list.
 */

/** "NBDMAGIC", sent first by the server (proto.md "Newstyle negotiation"; also INIT_PASSWD). */
export const NBDMAGIC = 0x4e42444d41474943n;
/** "IHAVEOPT": the newstyle magic, and the magic of every option request. */
export const IHAVEOPT = 0x49484156454f5054n;
/** The magic of every fixed newstyle option reply. */
export const OPTION_REPLY_MAGIC = 0x3e889045565a9n;

/** Transmission-phase magics (proto.md "Request message", "Simple reply", "Structured reply chunk"). */
export const NBD_REQUEST_MAGIC = 0x25609513;
export const NBD_SIMPLE_REPLY_MAGIC = 0x67446698;
export const NBD_STRUCTURED_REPLY_MAGIC = 0x668e33ef;
/** With NBD_OPT_EXTENDED_HEADERS: 64-bit offsets and lengths in every request and reply chunk. */
export const NBD_EXTENDED_REQUEST_MAGIC = 0x21e41c71;
export const NBD_EXTENDED_REPLY_MAGIC = 0x6e8a278c;

/** Handshake flags (16 bits, server), "Handshake flags". */
export const NBD_FLAG_FIXED_NEWSTYLE = 1 << 0;
export const NBD_FLAG_NO_ZEROES = 1 << 1;

/** Client flags (32 bits), "Client flags". */
export const NBD_FLAG_C_FIXED_NEWSTYLE = 1 << 0;
export const NBD_FLAG_C_NO_ZEROES = 1 << 1;

/** Transmission flags (16 bits), "Transmission flags". */
export const NBD_FLAG = {
  HAS_FLAGS: 1 << 0,
  READ_ONLY: 1 << 1,
  SEND_FLUSH: 1 << 2,
  SEND_FUA: 1 << 3,
  ROTATIONAL: 1 << 4,
  SEND_TRIM: 1 << 5,
  SEND_WRITE_ZEROES: 1 << 6,
  SEND_DF: 1 << 7,
  CAN_MULTI_CONN: 1 << 8,
  SEND_RESIZE: 1 << 9,
  SEND_CACHE: 1 << 10,
  SEND_FAST_ZERO: 1 << 11,
  BLOCK_STAT_PAYLOAD: 1 << 12,
} as const;

/** Option types, "Option types". */
export const NBD_OPT = {
  EXPORT_NAME: 1,
  ABORT: 2,
  LIST: 3,
  PEEK_EXPORT: 4,
  STARTTLS: 5,
  INFO: 6,
  GO: 7,
  STRUCTURED_REPLY: 8,
  LIST_META_CONTEXT: 9,
  SET_META_CONTEXT: 10,
  EXTENDED_HEADERS: 11,
} as const;

/** Bit 31 marks an error reply ("Option reply types"). */
export const NBD_REP_FLAG_ERROR = 0x80000000;

/** Option reply types, "Option reply types". */
export const NBD_REP = {
  ACK: 1,
  SERVER: 2,
  INFO: 3,
  META_CONTEXT: 4,
  ERR_UNSUP: NBD_REP_FLAG_ERROR + 1,
  ERR_POLICY: NBD_REP_FLAG_ERROR + 2,
  ERR_INVALID: NBD_REP_FLAG_ERROR + 3,
  ERR_PLATFORM: NBD_REP_FLAG_ERROR + 4,
  ERR_TLS_REQD: NBD_REP_FLAG_ERROR + 5,
  ERR_UNKNOWN: NBD_REP_FLAG_ERROR + 6,
  ERR_SHUTDOWN: NBD_REP_FLAG_ERROR + 7,
  ERR_BLOCK_SIZE_REQD: NBD_REP_FLAG_ERROR + 8,
  ERR_TOO_BIG: NBD_REP_FLAG_ERROR + 9,
  ERR_EXT_HEADER_REQD: NBD_REP_FLAG_ERROR + 10,
} as const;

/** Information types of NBD_REP_INFO, under `NBD_OPT_INFO` / `NBD_OPT_GO`. */
export const NBD_INFO = {
  EXPORT: 0,
  NAME: 1,
  DESCRIPTION: 2,
  BLOCK_SIZE: 3,
} as const;

/** Request types, "Request types". */
export const NBD_CMD = {
  READ: 0,
  WRITE: 1,
  DISC: 2,
  FLUSH: 3,
  TRIM: 4,
  CACHE: 5,
  WRITE_ZEROES: 6,
  BLOCK_STATUS: 7,
  RESIZE: 8,
} as const;

/** Command flags, "Command flags". */
export const NBD_CMD_FLAG = {
  FUA: 1 << 0,
  NO_HOLE: 1 << 1,
  DF: 1 << 2,
  REQ_ONE: 1 << 3,
  FAST_ZERO: 1 << 4,
  /** Extended headers only: the length is a payload's, not the command's effect. */
  PAYLOAD_LEN: 1 << 5,
} as const;

/** Structured reply flags. */
export const NBD_REPLY_FLAG_DONE = 1 << 0;

/** Structured reply types, "Structured reply types". Bit 15 marks an error chunk. */
export const NBD_REPLY_TYPE = {
  NONE: 0,
  OFFSET_DATA: 1,
  OFFSET_HOLE: 2,
  BLOCK_STATUS: 5,
  BLOCK_STATUS_EXT: 6,
  ERROR: (1 << 15) + 1,
  ERROR_OFFSET: (1 << 15) + 2,
} as const;

/** Error values, "Error values". Only these may appear on the wire. */
export const NBD_ERRNO = {
  EPERM: 1,
  EIO: 5,
  ENOMEM: 12,
  EINVAL: 22,
  ENOSPC: 28,
  EOVERFLOW: 75,
  ENOTSUP: 95,
  ESHUTDOWN: 108,
} as const;
export type NbdErrno = (typeof NBD_ERRNO)[keyof typeof NBD_ERRNO];

/** `base:allocation` flags (proto.md "`base:allocation` metadata context"). */
export const NBD_STATE_HOLE = 1 << 0;
export const NBD_STATE_ZERO = 1 << 1;

/** Metadata context names we serve (proto.md "Metadata querying"; qemu docs/interop/nbd.rst). */
export const CONTEXT_BASE_ALLOCATION = 'base:allocation';
export const CONTEXT_ALLOCATION_DEPTH = 'qemu:allocation-depth';

/** proto.md "Conventions": a string MUST be no longer than 4096 bytes. */
export const NBD_MAX_STRING = 4096;

/**
 * The name of a value in one of the tables above ("NBD_OPT_GO", "NBD_CMD_READ"), or the number
 * itself when the table has no such value. For logs and error messages.
 */
export function nameOf(table: Readonly<Record<string, number>>, prefix: string, value: number): string {
  for (const [k, v] of Object.entries(table)) if (v === value) return `${prefix}_${k}`;
  return `${prefix} ${value}`;
}
