/**
 * The text descriptor (Virtual Disk Format 1.1, "The Descriptor File"): either a small file of
 * its own (monolithicFlat, twoGbMaxExtent*) or embedded in a sparse extent at
 * descriptorOffset (monolithicSparse, streamOptimized). Lines are `#` comments, `key=value`
 * header fields (version, CID, parentCID, createType, parentFileNameHint, ...), extent lines
 *
 *   access sizeInSectors type ["filename" [offset]]
 *   access: RW | RDONLY | NOACCESS
 *   type:   SPARSE | FLAT | ZERO | VMFS | VMFSSPARSE | VMFSRDM | VMFSRAW | SESPARSE
 *
 * and the disk database, `ddb.key = "value"`. The text ends at the first NUL byte (embedded
 * descriptors are zero-padded to whole sectors).
 *
 * `decodeDescriptor` accepts what VMware and qemu-img write and refuses anything else with a
 * typed error that names the line: BAD_FORMAT when the text is not a descriptor at all (no
 * createType), CORRUPT when a descriptor has a malformed or unknown line. `encodeDescriptor`
 * writes qemu-img's layout, so a descriptor qemu-img wrote encodes back byte for byte.
 */
import { BlockError } from '../../util/index.js';

/** Descriptors are small; anything larger is not one (qemu reads at most 1 MiB). */
export const MAX_DESCRIPTOR_BYTES = 1024 * 1024 - 1;

export const EXTENT_ACCESS = ['RW', 'RDONLY', 'NOACCESS'] as const;
export type ExtentAccess = (typeof EXTENT_ACCESS)[number];

export const EXTENT_TYPES = [
  'SPARSE',
  'FLAT',
  'ZERO',
  'VMFS',
  'VMFSSPARSE',
  'VMFSRDM',
  'VMFSRAW',
  'SESPARSE',
] as const;
export type ExtentType = (typeof EXTENT_TYPES)[number];

export interface ExtentLine {
  access: ExtentAccess;
  /** Size in 512-byte sectors. */
  sectors: number;
  type: ExtentType;
  /** Path of the extent file, relative to the descriptor's directory unless absolute. */
  filename?: string;
  /** First sector of the extent's data in a flat file. */
  offset?: number;
}

export interface Descriptor {
  version: number;
  cid: number;
  parentCid: number;
  createType: string;
  parentFileNameHint?: string;
  /** Other header fields (encoding, isNativeSnapshot, ...), in file order, unquoted. */
  fields: Array<[string, string]>;
  extents: ExtentLine[];
  /** Disk database entries with the "ddb." prefix removed, in file order, unquoted. */
  ddb: Array<[string, string]>;
}

/** parentCID of a disk without a parent. */
export const NO_PARENT_CID = 0xffffffff;

const EXTENT_RE = /^(RW|RDONLY|NOACCESS)\s+(\d+)\s+([A-Za-z]+)(?:\s+"([^"]*)")?(?:\s+(\d+))?$/;
const FIELD_RE = /^([A-Za-z0-9_.]+)\s*=\s*(.*)$/;

function unquote(v: string): string {
  const t = v.trim();
  return t.length >= 2 && t.startsWith('"') && t.endsWith('"') ? t.slice(1, -1) : t;
}

function shorten(line: string): string {
  return line.length > 80 ? `${line.slice(0, 80)}...` : line;
}

function parseCid(v: string, name: string): number {
  if (!/^[0-9a-fA-F]{1,8}$/.test(v))
    throw new BlockError('CORRUPT', `VMDK descriptor: invalid ${name} '${v}'`);
  return parseInt(v, 16);
}

function parseExtent(m: RegExpExecArray, lineNo: number, line: string): ExtentLine {
  const bad = (why: string): BlockError =>
    new BlockError('CORRUPT', `VMDK descriptor line ${lineNo}: ${why}: '${line}'`);
  const sectors = Number(m[2]);
  if (!Number.isSafeInteger(sectors) || sectors <= 0 || sectors * 512 > Number.MAX_SAFE_INTEGER) {
    throw bad('invalid extent size');
  }
  const type = m[3]!.toUpperCase() as ExtentType;
  if (!EXTENT_TYPES.includes(type)) throw bad(`unknown extent type '${m[3]}'`);
  const e: ExtentLine = { access: m[1] as ExtentAccess, sectors, type };
  if (m[4] !== undefined) {
    if (m[4] === '') throw bad('empty extent file name');
    e.filename = m[4];
  }
  if (m[5] !== undefined) {
    const offset = Number(m[5]);
    if (!Number.isSafeInteger(offset) || offset * 512 > Number.MAX_SAFE_INTEGER) throw bad('invalid offset');
    if (type !== 'FLAT' && type !== 'VMFS' && type !== 'VMFSRAW' && type !== 'VMFSRDM') {
      throw bad(`an offset is only valid for flat extents`);
    }
    e.offset = offset;
  }
  if (type === 'ZERO' ? e.filename !== undefined : e.filename === undefined) {
    throw bad(type === 'ZERO' ? 'a ZERO extent has no file' : 'the extent file name is missing');
  }
  return e;
}

/** Parses descriptor text (up to its first NUL). */
export function decodeDescriptor(input: string | Buffer): Descriptor {
  let text = typeof input === 'string' ? input : input.toString('latin1');
  const nul = text.indexOf('\0');
  if (nul >= 0) text = text.slice(0, nul);
  if (text.length > MAX_DESCRIPTOR_BYTES) {
    throw new BlockError('BAD_FORMAT', `VMDK descriptor is too large (${text.length} bytes)`);
  }
  if (typeof input !== 'string') text = Buffer.from(text, 'latin1').toString('utf8');
  const d: Partial<Descriptor> & Pick<Descriptor, 'fields' | 'extents' | 'ddb'> = {
    fields: [],
    extents: [],
    ddb: [],
  };
  // The first malformed line is reported only once the text is known to be a descriptor.
  let firstError: BlockError | undefined;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/\r$/, '').trim();
    if (line === '' || line.startsWith('#')) continue;
    const ext = EXTENT_RE.exec(line);
    if (ext) {
      try {
        d.extents.push(parseExtent(ext, i + 1, line));
      } catch (err) {
        firstError ??= err as BlockError;
      }
      continue;
    }
    if (/^(RW|RDONLY|NOACCESS)\s/.test(line)) {
      firstError ??= new BlockError(
        'CORRUPT',
        `VMDK descriptor line ${i + 1}: invalid extent line: '${line}'`,
      );
      continue;
    }
    const f = FIELD_RE.exec(line);
    if (!f) {
      firstError ??= new BlockError(
        'CORRUPT',
        `VMDK descriptor line ${i + 1}: cannot parse '${shorten(line)}'`,
      );
      continue;
    }
    const key = f[1]!;
    const value = unquote(f[2]!);
    if (key.startsWith('ddb.')) d.ddb.push([key.slice(4), value]);
    else if (key === 'version') {
      if (!/^\d+$/.test(value))
        throw new BlockError('CORRUPT', `VMDK descriptor: invalid version '${value}'`);
      d.version = Number(value);
    } else if (key === 'CID') d.cid = parseCid(value, 'CID');
    else if (key === 'parentCID') d.parentCid = parseCid(value, 'parentCID');
    else if (key === 'createType') d.createType = value;
    else if (key === 'parentFileNameHint') d.parentFileNameHint = value;
    else d.fields.push([key, value]);
  }
  if (d.createType === undefined) {
    throw new BlockError('BAD_FORMAT', 'not a VMDK image: no createType in the descriptor text');
  }
  if (firstError) throw firstError;
  if (d.version === undefined) throw new BlockError('CORRUPT', 'VMDK descriptor has no version');
  if (d.cid === undefined) throw new BlockError('CORRUPT', 'VMDK descriptor has no CID');
  if (d.parentCid === undefined) throw new BlockError('CORRUPT', 'VMDK descriptor has no parentCID');
  if (d.extents.length === 0) throw new BlockError('CORRUPT', 'VMDK descriptor lists no extents');
  return d as Descriptor;
}

function checkText(v: string, what: string): string {
  if (/["\n\r\0]/.test(v))
    throw new BlockError('INVALID', `VMDK descriptor: ${what} contains a quote or newline`);
  return v;
}

/** Writes a descriptor in qemu-img's layout. */
export function encodeDescriptor(d: Descriptor): string {
  const out: string[] = [
    '# Disk DescriptorFile',
    `version=${d.version}`,
    `CID=${(d.cid >>> 0).toString(16)}`,
    `parentCID=${(d.parentCid >>> 0).toString(16)}`,
    `createType="${checkText(d.createType, 'createType')}"`,
  ];
  if (d.parentFileNameHint !== undefined) {
    out.push(`parentFileNameHint="${checkText(d.parentFileNameHint, 'parentFileNameHint')}"`);
  }
  for (const [k, v] of d.fields) out.push(`${k}="${checkText(v, k)}"`);
  out.push('', '# Extent description');
  for (const e of d.extents) {
    let line = `${e.access} ${e.sectors} ${e.type}`;
    if (e.filename !== undefined) line += ` "${checkText(e.filename, 'extent file name')}"`;
    if (e.offset !== undefined) line += ` ${e.offset}`;
    out.push(line);
  }
  out.push('', '# The Disk Data Base', '#DDB', '');
  for (const [k, v] of d.ddb) out.push(`ddb.${k} = "${checkText(v, `ddb.${k}`)}"`);
  return out.join('\n') + '\n';
}
