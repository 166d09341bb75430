/**
 * Third-party Copy VPD page (SPC-4 §7.8.17, page code 8Fh): a list of third-party copy
 * descriptors, each `TYPE (2 bytes) | LENGTH (2 bytes, n - 3) | body`, every descriptor a multiple
 * of four bytes long (lists are zero padded). vdisk's copy manager (EXTENDED COPY LID1 only)
 * reports the descriptors SPC-4 requires of it:
 *
 * - 0001h Supported Commands (§7.8.17.3): byte 4 COMMANDS SUPPORTED LIST LENGTH, then per command
 *   OPERATION CODE, SERVICE ACTION LIST LENGTH and the service actions;
 * - 0004h Parameter Data (§7.8.17.4), length 001Ch: bytes 8..9 MAXIMUM CSCD DESCRIPTOR COUNT,
 *   10..11 MAXIMUM SEGMENT DESCRIPTOR COUNT, 12..15 MAXIMUM DESCRIPTOR LIST LENGTH, 16..19
 *   MAXIMUM INLINE DATA LENGTH;
 * - 0008h Supported Descriptors (§7.8.17.5): byte 4 DESCRIPTOR LIST LENGTH, then the CSCD and
 *   segment descriptor type codes;
 * - 000Ch Supported CSCD Descriptor IDs (§7.8.17.6): bytes 4..5 list length, then 2-byte IDs;
 * - 8001h General Copy Operations (§7.8.17.10), length 0020h: bytes 4..7 TOTAL CONCURRENT COPIES,
 *   8..11 MAXIMUM IDENTIFIED CONCURRENT COPIES, 12..15 MAXIMUM SEGMENT LENGTH, 16 DATA SEGMENT
 *   GRANULARITY (log2), 17 INLINE DATA GRANULARITY (log2).
 *
 * Unknown descriptor types survive decoding as `raw` so a round trip keeps them.
 */
import { BlockError } from '../../util/index.js';

export const THIRD_PARTY_COPY_PAGE = 0x8f;

export const TpcDescriptorType = {
  SUPPORTED_COMMANDS: 0x0001,
  PARAMETER_DATA: 0x0004,
  SUPPORTED_DESCRIPTORS: 0x0008,
  SUPPORTED_CSCD_IDS: 0x000c,
  GENERAL_COPY_OPERATIONS: 0x8001,
} as const;

export type TpcDescriptor =
  | { kind: 'supported-commands'; commands: Array<{ opcode: number; serviceActions: number[] }> }
  | {
      kind: 'parameter-data';
      maxCscdDescriptorCount: number;
      maxSegmentDescriptorCount: number;
      maxDescriptorListLength: number;
      maxInlineDataLength: number;
    }
  | { kind: 'supported-descriptors'; typeCodes: number[] }
  | { kind: 'supported-cscd-ids'; ids: number[] }
  | {
      kind: 'general-copy-operations';
      totalConcurrentCopies: number;
      maxIdentifiedConcurrentCopies: number;
      maxSegmentLength: number;
      dataSegmentGranularity: number;
      inlineDataGranularity: number;
    }
  | { kind: 'raw'; type: number; body: Buffer };

const pad4 = (n: number): number => (n + 3) & ~3;

function descriptor(type: number, body: Buffer): Buffer {
  const len = pad4(body.length);
  const b = Buffer.alloc(4 + len);
  b.writeUInt16BE(type, 0);
  b.writeUInt16BE(len, 2);
  body.copy(b, 4);
  return b;
}

function encodeOne(d: TpcDescriptor): Buffer {
  switch (d.kind) {
    case 'supported-commands': {
      const list = Buffer.concat(
        d.commands.map((c) => Buffer.from([c.opcode, c.serviceActions.length, ...c.serviceActions])),
      );
      if (list.length > 0xff) throw new BlockError('INVALID', 'supported commands list too long');
      return descriptor(
        TpcDescriptorType.SUPPORTED_COMMANDS,
        Buffer.concat([Buffer.from([list.length]), list]),
      );
    }
    case 'parameter-data': {
      const b = Buffer.alloc(0x1c);
      b.writeUInt16BE(d.maxCscdDescriptorCount, 4);
      b.writeUInt16BE(d.maxSegmentDescriptorCount, 6);
      b.writeUInt32BE(d.maxDescriptorListLength, 8);
      b.writeUInt32BE(d.maxInlineDataLength, 12);
      return descriptor(TpcDescriptorType.PARAMETER_DATA, b);
    }
    case 'supported-descriptors':
      return descriptor(
        TpcDescriptorType.SUPPORTED_DESCRIPTORS,
        Buffer.from([d.typeCodes.length, ...d.typeCodes]),
      );
    case 'supported-cscd-ids': {
      const b = Buffer.alloc(2 + 2 * d.ids.length);
      b.writeUInt16BE(2 * d.ids.length, 0);
      d.ids.forEach((id, i) => b.writeUInt16BE(id, 2 + 2 * i));
      return descriptor(TpcDescriptorType.SUPPORTED_CSCD_IDS, b);
    }
    case 'general-copy-operations': {
      const b = Buffer.alloc(0x20);
      b.writeUInt32BE(d.totalConcurrentCopies, 0);
      b.writeUInt32BE(d.maxIdentifiedConcurrentCopies, 4);
      b.writeUInt32BE(d.maxSegmentLength, 8);
      b[12] = d.dataSegmentGranularity;
      b[13] = d.inlineDataGranularity;
      return descriptor(TpcDescriptorType.GENERAL_COPY_OPERATIONS, b);
    }
    case 'raw':
      return descriptor(d.type, d.body);
  }
}

/** The whole page, with its 4-byte VPD header. */
export function encodeThirdPartyCopyPage(peripheral: number, descriptors: TpcDescriptor[]): Buffer {
  const body = Buffer.concat(descriptors.map(encodeOne));
  if (body.length > 0xffff) throw new BlockError('INVALID', 'third-party copy page too long');
  const h = Buffer.from([peripheral, THIRD_PARTY_COPY_PAGE, body.length >> 8, body.length & 0xff]);
  return Buffer.concat([h, body]);
}

function decodeOne(type: number, body: Buffer): TpcDescriptor {
  const need = (n: number): void => {
    if (body.length < n)
      throw new BlockError('INVALID', `third-party copy descriptor ${type.toString(16)} truncated`);
  };
  switch (type) {
    case TpcDescriptorType.SUPPORTED_COMMANDS: {
      need(1);
      const end = 1 + body[0]!;
      need(end);
      const commands: Array<{ opcode: number; serviceActions: number[] }> = [];
      for (let off = 1; off < end;) {
        need(off + 2);
        const n = body[off + 1]!;
        need(off + 2 + n);
        commands.push({ opcode: body[off]!, serviceActions: [...body.subarray(off + 2, off + 2 + n)] });
        off += 2 + n;
      }
      return { kind: 'supported-commands', commands };
    }
    case TpcDescriptorType.PARAMETER_DATA:
      need(0x1c);
      return {
        kind: 'parameter-data',
        maxCscdDescriptorCount: body.readUInt16BE(4),
        maxSegmentDescriptorCount: body.readUInt16BE(6),
        maxDescriptorListLength: body.readUInt32BE(8),
        maxInlineDataLength: body.readUInt32BE(12),
      };
    case TpcDescriptorType.SUPPORTED_DESCRIPTORS:
      need(1);
      need(1 + body[0]!);
      return { kind: 'supported-descriptors', typeCodes: [...body.subarray(1, 1 + body[0]!)] };
    case TpcDescriptorType.SUPPORTED_CSCD_IDS: {
      need(2);
      const n = body.readUInt16BE(0);
      need(2 + n);
      const ids: number[] = [];
      for (let i = 0; i + 1 < n; i += 2) ids.push(body.readUInt16BE(2 + i));
      return { kind: 'supported-cscd-ids', ids };
    }
    case TpcDescriptorType.GENERAL_COPY_OPERATIONS:
      need(0x20);
      return {
        kind: 'general-copy-operations',
        totalConcurrentCopies: body.readUInt32BE(0),
        maxIdentifiedConcurrentCopies: body.readUInt32BE(4),
        maxSegmentLength: body.readUInt32BE(8),
        dataSegmentGranularity: body[12]!,
        inlineDataGranularity: body[13]!,
      };
    default:
      return { kind: 'raw', type, body: Buffer.from(body) };
  }
}

export function decodeThirdPartyCopyPage(page: Buffer): { peripheral: number; descriptors: TpcDescriptor[] } {
  if (page.length < 4 || page[1] !== THIRD_PARTY_COPY_PAGE)
    throw new BlockError('INVALID', 'not VPD page 8Fh');
  const end = 4 + page.readUInt16BE(2);
  if (end > page.length) throw new BlockError('INVALID', 'VPD page 8Fh truncated');
  const descriptors: TpcDescriptor[] = [];
  for (let off = 4; off < end;) {
    if (end - off < 4) throw new BlockError('INVALID', 'third-party copy descriptor header truncated');
    const type = page.readUInt16BE(off);
    const len = page.readUInt16BE(off + 2);
    if (off + 4 + len > end) throw new BlockError('INVALID', 'third-party copy descriptor overruns the page');
    descriptors.push(decodeOne(type, page.subarray(off + 4, off + 4 + len)));
    off += 4 + len;
  }
  return { peripheral: page[0]!, descriptors };
}
