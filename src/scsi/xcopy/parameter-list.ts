/**
 * Decoding and validating a whole EXTENDED COPY (LID1) parameter list (SPC-4 §6.3) before any
 * data moves. Errors, each in the copy manager's own terms (field pointers are relative to the
 * start of the parameter list):
 *
 * - fewer bytes than the header or than the header's lengths announce: PARAMETER LIST LENGTH ERROR
 *   (SPC-4 §6.3.1: "... the copy manager shall terminate the command ... PARAMETER LIST LENGTH
 *   ERROR"); so is a CSCD + segment descriptor list longer than MAXIMUM DESCRIPTOR LIST LENGTH;
 * - LIST ID USAGE 01b (reserved), or 11b with a non-zero LIST IDENTIFIER: INVALID FIELD IN
 *   PARAMETER LIST;
 * - inline data: INLINE DATA LENGTH EXCEEDED (we accept none);
 * - more CSCD descriptors than MAXIMUM CSCD DESCRIPTOR COUNT: TOO MANY TARGET DESCRIPTORS; more
 *   segment descriptors than MAXIMUM SEGMENT DESCRIPTOR COUNT: TOO MANY SEGMENT DESCRIPTORS;
 * - a descriptor type we do not implement: UNSUPPORTED TARGET (or SEGMENT) DESCRIPTOR TYPE CODE;
 * - a descriptor that overruns its list, or an invalid field in one: INVALID FIELD IN PARAMETER
 *   LIST pointing at it.
 */
import { invalidParamField, parameterListLengthError } from '../errors.js';
import { CopyAsc, copyIllegal } from './copy-sense.js';
import {
  cscdDescriptorLength,
  decodeCscdDescriptor,
  type IdentificationDescriptor,
} from './cscd-descriptor.js';
import {
  MAX_CSCD_DESCRIPTORS,
  MAX_DESCRIPTOR_LIST_LENGTH,
  MAX_INLINE_DATA_LENGTH,
  MAX_SEGMENT_DESCRIPTORS,
} from './limits.js';
import {
  decodeParameterListHeader,
  ListIdUsage,
  PARAMETER_LIST_HEADER_LENGTH,
  type ParameterListHeader,
} from './parameter-list-header.js';
import {
  decodeSegmentDescriptor,
  segmentDescriptorLength,
  type BlockToBlockSegment,
} from './segment-descriptor.js';

export interface ParameterList {
  header: ParameterListHeader;
  cscds: IdentificationDescriptor[];
  /** Byte offset of each CSCD descriptor in the parameter list. */
  cscdOffsets: number[];
  segments: BlockToBlockSegment[];
  segmentOffsets: number[];
}

/** Splits a descriptor list into [offset, length] pieces; `lengthOf` reads a descriptor's length. */
function walk(
  list: Buffer,
  base: number,
  lengthField: number,
  lengthOf: (d: Buffer) => number,
): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let off = 0;
  while (off < list.length) {
    if (list.length - off < 4) throw invalidParamField(base + off);
    const len = lengthOf(list.subarray(off));
    if (off + len > list.length) throw invalidParamField(lengthField);
    out.push([off, len]);
    off += len;
  }
  return out;
}

/** Decodes `data` (exactly PARAMETER LIST LENGTH bytes, at least the header). */
export function decodeParameterList(data: Buffer): ParameterList {
  if (data.length < PARAMETER_LIST_HEADER_LENGTH) throw parameterListLengthError();
  const header = decodeParameterListHeader(data);
  if (header.listIdUsage === ListIdUsage.RESERVED) throw invalidParamField(1, 4);
  if (header.listIdUsage === ListIdUsage.NONE && header.listId !== 0) throw invalidParamField(0);
  const { cscdListLength: tdll, segmentListLength: sdll, inlineDataLength } = header;
  if (tdll + sdll > MAX_DESCRIPTOR_LIST_LENGTH) throw parameterListLengthError();
  if (inlineDataLength > MAX_INLINE_DATA_LENGTH) throw copyIllegal(CopyAsc.INLINE_DATA_LENGTH_EXCEEDED);
  if (PARAMETER_LIST_HEADER_LENGTH + tdll + sdll + inlineDataLength > data.length)
    throw parameterListLengthError();

  const cscdBase = PARAMETER_LIST_HEADER_LENGTH;
  const cscdPieces = walk(data.subarray(cscdBase, cscdBase + tdll), cscdBase, 2, (d) =>
    cscdDescriptorLength(d[0]!),
  );
  if (cscdPieces.length > MAX_CSCD_DESCRIPTORS) throw copyIllegal(CopyAsc.TOO_MANY_TARGET_DESCRIPTORS);
  const segBase = cscdBase + tdll;
  const segPieces = walk(data.subarray(segBase, segBase + sdll), segBase, 8, segmentDescriptorLength);
  if (segPieces.length > MAX_SEGMENT_DESCRIPTORS) throw copyIllegal(CopyAsc.TOO_MANY_SEGMENT_DESCRIPTORS);

  const cscds: IdentificationDescriptor[] = [];
  const cscdOffsets: number[] = [];
  for (const [off, len] of cscdPieces) {
    const at = cscdBase + off;
    const d = decodeCscdDescriptor(data.subarray(at, at + len));
    switch (d.kind) {
      case 'identification':
        cscds.push(d);
        cscdOffsets.push(at);
        break;
      case 'unsupported':
        throw copyIllegal(CopyAsc.UNSUPPORTED_TARGET_DESCRIPTOR_TYPE_CODE);
      case 'invalid':
        throw invalidParamField(at + d.byte, d.bit);
    }
  }
  const segments: BlockToBlockSegment[] = [];
  const segmentOffsets: number[] = [];
  for (const [off, len] of segPieces) {
    const at = segBase + off;
    const d = decodeSegmentDescriptor(data.subarray(at, at + len));
    switch (d.kind) {
      case 'block-to-block':
        segments.push(d);
        segmentOffsets.push(at);
        break;
      case 'unsupported':
        throw copyIllegal(CopyAsc.UNSUPPORTED_SEGMENT_DESCRIPTOR_TYPE_CODE);
      case 'invalid':
        throw invalidParamField(at + d.byte, d.bit);
    }
  }
  return { header, cscds, cscdOffsets, segments, segmentOffsets };
}
