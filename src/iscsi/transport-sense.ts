/**
 * The few sense data the transport itself produces (fixed format, SPC-4 §4.5.3), for failures of
 * one task that happen before or around the SCSI core: a data digest error on Data-Out (RFC 7143
 * §7.8 option b: ABORTED COMMAND, PROTOCOL SERVICE CRC ERROR 47h/05h), a Data-Out out of its
 * sequence (ABORTED COMMAND with DATA PHASE ERROR 4Bh/00h, DATA OFFSET ERROR 4Bh/05h or TOO MUCH
 * WRITE DATA 4Bh/02h), a command longer than
 * this target collects (ILLEGAL REQUEST, INVALID FIELD IN CDB 24h/00h), and a core that failed
 * instead of answering (HARDWARE ERROR, INTERNAL TARGET FAILURE 44h/00h). Everything else comes
 * from the SCSI core.
 */
export const SENSE_KEY = { ILLEGAL_REQUEST: 0x05, HARDWARE_ERROR: 0x04, ABORTED_COMMAND: 0x0b } as const;

export function fixedSense(key: number, asc: number, ascq: number): Buffer {
  const s = Buffer.alloc(18);
  s[0] = 0x70; // current error, fixed format
  s[2] = key;
  s[7] = 10; // additional sense length
  s[12] = asc;
  s[13] = ascq;
  return s;
}

export const PROTOCOL_CRC_ERROR = (): Buffer => fixedSense(SENSE_KEY.ABORTED_COMMAND, 0x47, 0x05);
export const INVALID_FIELD_IN_CDB = (): Buffer => fixedSense(SENSE_KEY.ILLEGAL_REQUEST, 0x24, 0x00);
export const INTERNAL_TARGET_FAILURE = (): Buffer => fixedSense(SENSE_KEY.HARDWARE_ERROR, 0x44, 0x00);
export const DATA_PHASE = (): Buffer => fixedSense(SENSE_KEY.ABORTED_COMMAND, 0x4b, 0x00);
export const DATA_OFFSET = (): Buffer => fixedSense(SENSE_KEY.ABORTED_COMMAND, 0x4b, 0x05);
export const TOO_MUCH_DATA = (): Buffer => fixedSense(SENSE_KEY.ABORTED_COMMAND, 0x4b, 0x02);
