/**
 * Builders for EXTENDED COPY and RECEIVE COPY RESULTS test traffic: CDBs, parameter lists with
 * identification CSCD descriptors naming LUs by their NAA designator, block to block segments.
 */
import type { LogicalUnit } from '../../../src/scsi/index.js';
import {
  encodeBlockToBlockSegment,
  encodeIdentificationDescriptor,
  encodeParameterListHeader,
  ListIdUsage,
} from '../../../src/scsi/xcopy/index.js';

export function xcopyCdb(length: number): Buffer {
  const b = Buffer.alloc(16);
  b[0] = 0x83;
  b.writeUInt32BE(length, 10);
  return b;
}

export function rcrCdb(sa: number, listId: number, alloc = 1024): Buffer {
  const b = Buffer.alloc(16);
  b[0] = 0x84;
  b[1] = sa;
  b[2] = listId;
  b.writeUInt32BE(alloc, 10);
  return b;
}

export function cscd(
  lu: LogicalUnit,
  o: { nul?: boolean; luIdType?: number; blockLength?: number; designator?: Buffer } = {},
): Buffer {
  return encodeIdentificationDescriptor({
    luIdType: o.luIdType ?? 0,
    nul: !!o.nul,
    deviceType: 0,
    relativeInitiatorPortId: 0,
    codeSet: 1,
    association: 0,
    designatorType: 3,
    designator: o.designator ?? lu.identity.naa,
    pad: false,
    diskBlockLength: o.blockLength ?? lu.blockSize,
  });
}

export function segment(
  src: number,
  dst: number,
  blocks: number,
  srcLba: number,
  dstLba: number,
  dc = false,
): Buffer {
  return encodeBlockToBlockSegment({
    dc,
    cat: false,
    source: src,
    destination: dst,
    blocks,
    sourceLba: BigInt(srcLba),
    destinationLba: BigInt(dstLba),
  });
}

export function paramList(
  cscds: Buffer[],
  segments: Buffer[],
  o: { listId?: number; usage?: number; inline?: number; priority?: number } = {},
): Buffer {
  const c = Buffer.concat(cscds);
  const s = Buffer.concat(segments);
  const h = encodeParameterListHeader({
    listId: o.listId ?? 1,
    str: false,
    listIdUsage: o.usage ?? ListIdUsage.HOLD,
    priority: o.priority ?? 0,
    cscdListLength: c.length,
    segmentListLength: s.length,
    inlineDataLength: o.inline ?? 0,
  });
  return Buffer.concat([h, c, s, Buffer.alloc(o.inline ?? 0)]);
}
