/**
 * CDBs of UNMAP and SANITIZE.
 *
 * UNMAP (SBC-3 §5.28, Table 98): byte 1 ANCHOR(0), byte 6 GROUP NUMBER(4..0), bytes 7..8
 * PARAMETER LIST LENGTH.
 * SANITIZE (SBC-3 §5.30, Table 103): byte 1 IMMED(7) AUSE(5) SERVICE ACTION(4..0), bytes 7..8
 * PARAMETER LIST LENGTH.
 */
export const UNMAP = 0x42;
export const SANITIZE = 0x48;

export interface UnmapCdb {
  anchor: boolean;
  group: number;
  parameterListLength: number;
}

export interface SanitizeCdb {
  immed: boolean;
  ause: boolean;
  serviceAction: number;
  parameterListLength: number;
}

export function decodeUnmapCdb(cdb: Buffer): UnmapCdb {
  return { anchor: !!(cdb[1]! & 1), group: cdb[6]! & 0x1f, parameterListLength: cdb.readUInt16BE(7) };
}

export function encodeUnmapCdb(c: UnmapCdb): Buffer {
  const b = Buffer.alloc(10);
  b[0] = UNMAP;
  b[1] = c.anchor ? 1 : 0;
  b[6] = c.group & 0x1f;
  b.writeUInt16BE(c.parameterListLength, 7);
  return b;
}

export function decodeSanitizeCdb(cdb: Buffer): SanitizeCdb {
  const b1 = cdb[1]!;
  return {
    immed: !!(b1 & 0x80),
    ause: !!(b1 & 0x20),
    serviceAction: b1 & 0x1f,
    parameterListLength: cdb.readUInt16BE(7),
  };
}

export function encodeSanitizeCdb(c: SanitizeCdb): Buffer {
  const b = Buffer.alloc(10);
  b[0] = SANITIZE;
  b[1] = (c.immed ? 0x80 : 0) | (c.ause ? 0x20 : 0) | (c.serviceAction & 0x1f);
  b.writeUInt16BE(c.parameterListLength, 7);
  return b;
}
