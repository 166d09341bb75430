/**
 * Typed errors shared by every layer.
 *
 * A `BlockError` carries a code from one closed set. Each protocol translates these codes in
 * exactly one function (SCSI sense in scsi/, NBD errno in nbd/, HTTP status in api/, exit code and
 * message in cli/). Nothing above `block/` inspects error messages.
 */

/** The closed set of block-level failure codes. */
export const BLOCK_ERROR_CODES = [
  'OUT_OF_RANGE', // request past the end of the device
  'INVALID', // malformed request (bad alignment, negative length, bad option)
  'READ_ONLY', // write to a read-only device
  'NO_SPACE', // host file system full
  'IO', // host I/O failure
  'NOT_SUPPORTED', // operation or feature this device/format does not do (yet)
  'CORRUPT', // image metadata is inconsistent; the image is marked corrupt
  'LOCKED', // another process holds a conflicting image lock
  'NOT_FOUND', // file or backing file missing
  'BAD_FORMAT', // not an image of the expected format (bad magic, unknown version)
] as const;

export type BlockErrorCode = (typeof BLOCK_ERROR_CODES)[number];

export class BlockError extends Error {
  readonly code: BlockErrorCode;
  constructor(code: BlockErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BlockError';
    this.code = code;
  }
}

export function isBlockError(err: unknown, code?: BlockErrorCode): err is BlockError {
  return err instanceof BlockError && (code === undefined || err.code === code);
}

/** A bad command-line argument or option value. The CLI prints it and exits 1. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Node's fs errors carry an errno name in `code`. Map the ones we know onto BlockError codes. */
export function fromSystemError(err: unknown, context: string): BlockError {
  if (err instanceof BlockError) return err;
  const code = (err as { code?: string } | null)?.code;
  const msg = `${context}: ${(err as Error)?.message ?? String(err)}`;
  switch (code) {
    case 'ENOSPC':
    case 'EDQUOT':
      return new BlockError('NO_SPACE', msg, { cause: err });
    case 'ENOENT':
      return new BlockError('NOT_FOUND', msg, { cause: err });
    case 'EROFS':
    case 'EACCES':
    case 'EPERM':
      return new BlockError('READ_ONLY', msg, { cause: err });
    case 'EOPNOTSUPP':
    case 'ENOTSUP':
      return new BlockError('NOT_SUPPORTED', msg, { cause: err });
    case 'EINVAL':
      return new BlockError('INVALID', msg, { cause: err });
    default:
      return new BlockError('IO', msg, { cause: err });
  }
}
