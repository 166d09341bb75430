/**
 * MODE SENSE (6/10) and MODE SELECT (6/10) (SPC-4 §6.9-§6.12) over the LU's ModeParameters.
 *
 * MODE SENSE: PC current, changeable and default; saved answers SAVING PARAMETERS NOT SUPPORTED
 * (no saved pages). Page 3Fh returns every page; subpage FFh of a page_0 page means the same
 * page (there are no subpages); any other subpage is INVALID FIELD IN CDB. The block descriptor
 * is short unless MODE SENSE (10) sets LLBAA; DBD omits it. The DEVICE-SPECIFIC PARAMETER holds
 * WP (write protected, SWP included) and DPOFUA.
 *
 * MODE SELECT: PF must be one and SP zero (no saved pages). The header's MODE DATA LENGTH and
 * MEDIUM TYPE must be zero; a block descriptor must repeat the current block length (and zero or
 * the current number of blocks). Every page must be one we implement, with our page length, and
 * may change only bits of the changeable mask: the first violation is reported as INVALID FIELD
 * IN PARAMETER LIST with its byte and bit. Nothing is applied unless every page passes. A change
 * raises MODE PARAMETERS CHANGED for every other nexus (SPC-4 §6.9.1).
 */
import { decodeModeSelectCdb, decodeModeSenseCdb } from '../cdb/mode-cdb.js';
import { illegalRequest, invalidCdbField, invalidParamField, parameterListLengthError } from '../errors.js';
import {
  encodeBlockDescriptor,
  LONG_BLOCK_DESCRIPTOR_LENGTH,
  SHORT_BLOCK_DESCRIPTOR_LENGTH,
} from '../mode/block-descriptor.js';
import { decodeModeHeader, DeviceSpecific, encodeModeHeader, modeHeaderLength } from '../mode/header.js';
import { ALL_PAGES, MODE_PAGES, PAGE_CONTROLS } from '../mode/mode-parameters.js';
import { decodeModePageHeader } from '../mode/page-header.js';
import { ASC } from '../sense-codes.js';
import type { CommandContext, CommandResult } from './command.js';

export async function modeSense(ctx: CommandContext): Promise<CommandResult> {
  const c = decodeModeSenseCdb(ctx.cdb);
  const lu = ctx.lu;
  const pc = PAGE_CONTROLS[c.pc]!;
  if (pc === 'saved') throw illegalRequest(ASC.SAVING_PARAMETERS_NOT_SUPPORTED);
  let codes: number[];
  if (c.pageCode === ALL_PAGES) {
    if (c.subpageCode !== 0 && c.subpageCode !== 0xff) throw invalidCdbField(3);
    codes = [...MODE_PAGES];
  } else {
    if (!lu.mode.has(c.pageCode)) throw invalidCdbField(2, 5);
    if (c.subpageCode !== 0 && c.subpageCode !== 0xff) throw invalidCdbField(3);
    codes = [c.pageCode];
  }
  const pages = codes.map((code) => lu.mode.page(code, pc));
  const long = c.llbaa;
  const descriptors = c.dbd
    ? []
    : [
        encodeBlockDescriptor(
          long,
          pc === 'changeable'
            ? { numberOfBlocks: 0n, blockLength: 0 }
            : { numberOfBlocks: BigInt(lu.blocks), blockLength: lu.blockSize },
        ),
      ];
  const body = Buffer.concat([...descriptors, ...pages]);
  const hlen = modeHeaderLength(c.size);
  const header = encodeModeHeader(c.size, {
    modeDataLength: hlen + body.length - (c.size === 6 ? 1 : 2),
    mediumType: 0,
    deviceSpecific: (lu.writeProtected ? DeviceSpecific.WP : 0) | DeviceSpecific.DPOFUA,
    longLba: long && !c.dbd,
    blockDescriptorLength: descriptors.reduce((n, d) => n + d.length, 0),
  });
  return { dataIn: Buffer.concat([header, body]) };
}

export async function modeSelect(ctx: CommandContext): Promise<CommandResult> {
  const c = decodeModeSelectCdb(ctx.cdb);
  const lu = ctx.lu;
  if (c.sp) throw invalidCdbField(1, 0);
  if (c.parameterListLength === 0) return {};
  if (!c.pf) throw invalidCdbField(1, 4);
  const data = ctx.cmd.dataOut ?? Buffer.alloc(0);
  if (data.length < c.parameterListLength) throw parameterListLengthError();
  const list = data.subarray(0, c.parameterListLength);
  const hlen = modeHeaderLength(c.size);
  if (list.length < hlen) throw parameterListLengthError();
  const h = decodeModeHeader(c.size, list);
  if (h.modeDataLength !== 0) throw invalidParamField(0);
  if (h.mediumType !== 0) throw invalidParamField(c.size === 6 ? 1 : 2);
  const bdLen = h.longLba ? LONG_BLOCK_DESCRIPTOR_LENGTH : SHORT_BLOCK_DESCRIPTOR_LENGTH;
  if (h.blockDescriptorLength !== 0 && h.blockDescriptorLength !== bdLen) {
    throw invalidParamField(c.size === 6 ? 3 : 6);
  }
  let off = hlen;
  if (h.blockDescriptorLength) {
    if (list.length < off + bdLen) throw parameterListLengthError();
    const d = list.subarray(off, off + bdLen);
    const blocks = h.longLba ? d.readBigUInt64BE(0) : BigInt(d.readUInt32BE(0));
    const blockLength = h.longLba ? d.readUInt32BE(12) : d.readUIntBE(5, 3);
    if (blocks !== 0n && blocks !== BigInt(lu.blocks)) throw invalidParamField(off);
    if (blockLength !== lu.blockSize) throw invalidParamField(off + (h.longLba ? 12 : 5));
    off += bdLen;
  }
  const accepted: Array<[number, Buffer]> = [];
  while (off < list.length) {
    if (list.length - off < 2) throw parameterListLengthError();
    const ph = decodeModePageHeader(list, off);
    if (ph.spf || !lu.mode.has(ph.pageCode)) throw invalidParamField(off, 5);
    const expected = lu.mode.page(ph.pageCode, 'current').length;
    if (ph.totalLength !== expected) throw invalidParamField(off + 1);
    if (list.length - off < expected) throw parameterListLengthError();
    const page = list.subarray(off, off + expected);
    const bad = lu.mode.firstUnchangeable(ph.pageCode, page);
    if (bad) throw invalidParamField(off + bad[0], bad[1]);
    accepted.push([ph.pageCode, page]);
    off += expected;
  }
  let changed = false;
  for (const [code, page] of accepted) changed = lu.mode.apply(code, page) || changed;
  if (changed) lu.establishUnitAttention(ASC.MODE_PARAMETERS_CHANGED, ctx.nexus.key);
  return {};
}
