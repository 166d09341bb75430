/**
 * The one typed error of the reservation codecs. A parameter list or TransportID that cannot be
 * decoded names the offending byte (and bit) of the parameter data, so the command layer turns it
 * into ILLEGAL REQUEST with the right additional sense code and field pointer in one place
 * (`senseForCodecError` in prout-command.ts). `kind` says which of the two failures SPC-4 names:
 *
 * - 'length': PARAMETER LIST LENGTH ERROR (the lengths in the CDB and in the data disagree);
 * - 'field': INVALID FIELD IN PARAMETER LIST at `byte`/`bit`.
 */
export type PrCodecErrorKind = 'length' | 'field';

export class PrCodecError extends Error {
  constructor(
    readonly kind: PrCodecErrorKind,
    readonly byte: number,
    message: string,
    readonly bit?: number,
  ) {
    super(message);
    this.name = 'PrCodecError';
  }

  /** The same error with its byte offset moved by `delta` (a structure nested in a larger list). */
  shifted(delta: number): PrCodecError {
    return new PrCodecError(this.kind, this.byte + delta, this.message, this.bit);
  }
}
