/**
 * Opening the files of a VMDK disk: the file the user names is either a sparse extent with an
 * embedded descriptor ('KDMV' magic: monolithicSparse, streamOptimized), or a text descriptor
 * whose extent lines name the other files, relative to the descriptor's directory.
 *
 * Every failure is a typed error that names the file: NOT_FOUND for a missing extent file,
 * BAD_FORMAT for text that is not a descriptor or an extent without the 'KDMV' magic, CORRUPT for
 * a damaged descriptor or header, NOT_SUPPORTED for what vdisk does not read yet (delta links via
 * parentFileNameHint, VMFSSPARSE/COWD and SESPARSE extents). Whatever was opened before the
 * failure is closed again.
 *
 * An extent file named by several extent lines is opened once (a second descriptor on the same
 * file would conflict with our own image lock), read-write when any of its lines is RW.
 */
import path from 'node:path';
import { HostFile, type AioMode, type CacheMode } from '../../block/index.js';
import { BlockError, isBlockError } from '../../util/index.js';
import {
  decodeDescriptor,
  MAX_DESCRIPTOR_BYTES,
  NO_PARENT_CID,
  type Descriptor,
  type ExtentLine,
} from './descriptor.js';
import { FlatExtent, NoAccessExtent, ZeroExtent, type DiskExtent } from './extent.js';
import { SECTOR, SPARSE_MAGIC } from './sparse-header.js';
import { SparseExtent } from './sparse-extent.js';
import { openSparse, readEmbeddedDescriptor, type OpenedSparse } from './sparse-open.js';
import { isEmptyStream, StreamWriter } from './stream-writer.js';

export interface OpenFilesOptions {
  readOnly: boolean;
  cache: CacheMode;
  aio?: AioMode | undefined;
  lock: boolean;
  readahead?: boolean;
  writesOnLoop?: boolean;
}

export interface OpenedDisk {
  main: HostFile;
  descriptor: Descriptor;
  extents: DiskExtent[];
}

/** createType values of VMware's descriptors that vdisk reads (extent lines decide the rest). */
const CREATE_TYPES = [
  'monolithicSparse',
  'monolithicFlat',
  'twoGbMaxExtentSparse',
  'twoGbMaxExtentFlat',
  'streamOptimized',
  'vmfs',
  'vmfsThin',
  'vmfsSparse',
  'vmfsPreallocated',
  'vmfsEagerZeroedThick',
  'vmfsRaw',
  'vmfsRDM',
  'vmfsRawDeviceMap',
  'vmfsPassthroughRawDeviceMap',
  'seSparse',
  'custom',
];

const COWD_MAGIC = Buffer.from('COWD', 'latin1');

function noDeltaLinks(d: Descriptor, file: string): void {
  if (d.parentFileNameHint !== undefined) {
    throw new BlockError(
      'NOT_SUPPORTED',
      `${file} is a VMDK delta link (parentFileNameHint "${d.parentFileNameHint}"): not supported yet`,
    );
  }
}

function checkVersion(o: OpenedSparse, file: string, readOnly: boolean): void {
  // VMware KB 2064959: version 3 added changed block tracking; safe only read-only (as qemu).
  if (!readOnly && o.header.version === 3 && !o.compressed) {
    throw new BlockError('NOT_SUPPORTED', `${file}: VMDK version 3 extents must be opened read-only`);
  }
}

/** Opens the disk whose descriptor or monolithic image is `file`. */
export async function openExtents(file: string, o: OpenFilesOptions): Promise<OpenedDisk> {
  const main = await HostFile.open(file, {
    readOnly: o.readOnly,
    cache: o.cache,
    aio: o.aio,
    lock: o.lock,
    readahead: o.readahead,
    writesOnLoop: o.writesOnLoop,
  });
  const files = new Map<string, HostFile>([[path.resolve(file), main]]);
  try {
    if (main.size < 4) throw new BlockError('BAD_FORMAT', `${file} is too small to be a VMDK image`);
    const head = Buffer.alloc(4);
    await main.pread(0, head);
    if (head.equals(SPARSE_MAGIC)) return await openMonolithic(main, o);
    if (head.equals(COWD_MAGIC)) {
      throw new BlockError('NOT_SUPPORTED', `${file}: VMFS sparse (COWD) extents are not supported`);
    }
    if (main.size > MAX_DESCRIPTOR_BYTES) {
      throw new BlockError(
        'BAD_FORMAT',
        `${file} is not a VMDK image (no 'KDMV' magic, too large for a descriptor)`,
      );
    }
    const text = Buffer.alloc(main.size);
    await main.pread(0, text);
    const d = decodeDescriptor(text);
    return { main, descriptor: d, extents: await openDescribed(file, d, files, o) };
  } catch (err) {
    for (const f of new Set(files.values())) await f.close().catch(() => undefined);
    throw err;
  }
}

async function openMonolithic(main: HostFile, o: OpenFilesOptions): Promise<OpenedDisk> {
  const opened = await openSparse(main);
  const text = await readEmbeddedDescriptor(main, opened.primary);
  const empty = text.every((b) => b === 0);
  const d: Descriptor = empty
    ? {
        version: 1,
        cid: NO_PARENT_CID,
        parentCid: NO_PARENT_CID,
        createType: 'monolithicSparse',
        fields: [],
        extents: [
          {
            access: 'RW',
            sectors: opened.header.capacity,
            type: 'SPARSE',
            filename: path.basename(main.path),
          },
        ],
        ddb: [],
      }
    : decodeDescriptor(text);
  noDeltaLinks(d, main.path);
  // As qemu: the file's header, not the embedded descriptor, names the kind of disk.
  d.createType = opened.compressed ? 'streamOptimized' : 'monolithicSparse';
  checkVersion(opened, main.path, o.readOnly);
  const size = opened.header.capacity * SECTOR;
  const extent =
    opened.compressed && !o.readOnly && (await isEmptyStream(main, opened))
      ? new StreamWriter(main, opened, size)
      : new SparseExtent(main, opened, size, 'RW', '');
  return { main, descriptor: d, extents: [extent] };
}

async function openDescribed(
  file: string,
  d: Descriptor,
  files: Map<string, HostFile>,
  o: OpenFilesOptions,
): Promise<DiskExtent[]> {
  noDeltaLinks(d, file);
  if (!CREATE_TYPES.includes(d.createType)) {
    throw new BlockError('NOT_SUPPORTED', `${file}: unsupported VMDK image type '${d.createType}'`);
  }
  const dir = path.dirname(path.resolve(file));
  const where = (e: ExtentLine): string => path.resolve(dir, e.filename!);
  const writable = new Set<string>();
  const uses = new Map<string, ExtentLine[]>();
  for (const e of d.extents) {
    if (e.filename === undefined || e.access === 'NOACCESS') continue;
    const p = where(e);
    if (e.access === 'RW') writable.add(p);
    uses.set(p, [...(uses.get(p) ?? []), e]);
  }
  // A sparse extent owns its whole file (its own allocator and tables); flat extents may share.
  for (const [p, lines] of uses) {
    if (p === path.resolve(file)) {
      throw new BlockError('CORRUPT', `${file}: the descriptor names itself as an extent file`);
    }
    if (lines.length > 1 && lines.some((e) => e.type === 'SPARSE')) {
      throw new BlockError(
        'CORRUPT',
        `${file}: the sparse extent file '${lines[0]!.filename}' is listed twice`,
      );
    }
  }
  const openFile = async (e: ExtentLine): Promise<HostFile> => {
    const p = where(e);
    const have = files.get(p);
    if (have) return have;
    try {
      const f = await HostFile.open(p, {
        readOnly: o.readOnly || !writable.has(p),
        cache: o.cache,
        aio: o.aio,
        lock: o.lock,
        readahead: o.readahead,
        writesOnLoop: o.writesOnLoop,
      });
      files.set(p, f);
      return f;
    } catch (err) {
      const code = isBlockError(err) ? err.code : 'IO';
      throw new BlockError(
        code,
        `could not open extent '${e.filename}' of ${file}: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
  };
  const out: DiskExtent[] = [];
  for (const e of d.extents) {
    const size = e.sectors * SECTOR;
    if (e.access === 'NOACCESS') {
      out.push(new NoAccessExtent(size, e.filename ?? 'ZERO', e.type));
      continue;
    }
    switch (e.type) {
      case 'ZERO':
        out.push(new ZeroExtent(size, e.access));
        break;
      case 'FLAT':
      case 'VMFS':
      case 'VMFSRAW':
      case 'VMFSRDM':
        out.push(new FlatExtent(await openFile(e), (e.offset ?? 0) * SECTOR, size, e.access, e.type));
        break;
      case 'SPARSE':
        out.push(await openSparseExtent(await openFile(e), e, o));
        break;
      case 'VMFSSPARSE':
      case 'SESPARSE':
        throw new BlockError(
          'NOT_SUPPORTED',
          `${file}: ${e.type} extents are not supported ('${e.filename}')`,
        );
    }
  }
  return out;
}

async function openSparseExtent(f: HostFile, e: ExtentLine, o: OpenFilesOptions): Promise<DiskExtent> {
  const head = Buffer.alloc(4);
  await f.pread(0, head);
  if (head.equals(COWD_MAGIC)) {
    throw new BlockError('NOT_SUPPORTED', `extent ${f.path}: VMFS sparse (COWD) extents are not supported`);
  }
  const opened = await openSparse(f);
  if (opened.header.capacity !== e.sectors) {
    throw new BlockError(
      'CORRUPT',
      `extent ${f.path} holds ${opened.header.capacity} sectors, but the descriptor says ${e.sectors}`,
    );
  }
  checkVersion(opened, f.path, o.readOnly || e.access !== 'RW');
  return new SparseExtent(f, opened, e.sectors * SECTOR, e.access, 'SPARSE');
}
