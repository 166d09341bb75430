/**
 * INQUIRY CDB (SPC-4 §6.4.1, Table 141): byte 1 EVPD(0) (CMDDT, bit 1, is obsolete and must be
 * zero), byte 2 PAGE CODE, bytes 3..4 ALLOCATION LENGTH, byte 5 CONTROL.
 */
export const INQUIRY_CDB_LENGTH = 6;

export interface InquiryCdb {
  evpd: boolean;
  /** Byte 1 bits other than EVPD (must be zero). */
  reservedBits: number;
  pageCode: number;
  allocationLength: number;
  control: number;
}

export function decodeInquiryCdb(cdb: Buffer): InquiryCdb {
  return {
    evpd: !!(cdb[1]! & 1),
    reservedBits: cdb[1]! & 0xfe,
    pageCode: cdb[2]!,
    allocationLength: cdb.readUInt16BE(3),
    control: cdb[5]!,
  };
}

export function encodeInquiryCdb(
  c: Omit<InquiryCdb, 'reservedBits' | 'control'> & { control?: number },
): Buffer {
  const b = Buffer.alloc(INQUIRY_CDB_LENGTH);
  b[0] = 0x12;
  b[1] = c.evpd ? 1 : 0;
  b[2] = c.pageCode;
  b.writeUInt16BE(c.allocationLength, 3);
  b[5] = c.control ?? 0;
  return b;
}
