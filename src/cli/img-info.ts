/**
 * `vdisk img info`: what an image is, in qemu-img info's words.
 *
 * The image opens read-only with a shared lock, so info works next to other readers (and with
 * -U, next to a writer, as qemu-img's force-share). With --backing-chain the image and each of
 * its backing files are described in order, the JSON form becoming an array.
 */
import { snapshotTable } from './img-snapshot.js';
import { openImage, type Image, type ImageFormat, type ImageInfo } from '../formats/index.js';
import type { OutputFormat } from './args.js';
import { print, printJson } from './output.js';
import { sizeToStr } from './units.js';

export interface InfoOptions {
  format?: ImageFormat;
  output: OutputFormat;
  backingChain?: boolean;
  forceShare?: boolean;
}

export async function imgInfo(file: string, opts: InfoOptions): Promise<number> {
  const image = await openImage(file, {
    format: opts.format,
    readOnly: true,
    lock: !opts.forceShare,
    openBacking: opts.backingChain ?? false,
  });
  try {
    const infos: ImageInfo[] = [];
    for (let img: Image | undefined = image; img; img = opts.backingChain ? img.backing : undefined) {
      infos.push(await img.info());
    }
    if (opts.output === 'json') {
      const ordered = infos.map(qemuKeyOrder);
      printJson(opts.backingChain ? ordered : ordered[0]);
    } else {
      print(infos.map(humanInfo).join('\n'));
    }
  } finally {
    await image.close();
  }
  return 0;
}

/** The order in which qemu-img's JSON lists ImageInfo's keys (others follow, as they come). */
const QEMU_ORDER = [
  'snapshots',
  'backing-filename-format',
  'virtual-size',
  'filename',
  'cluster-size',
  'format',
  'actual-size',
  'encrypted',
  'format-specific',
  'full-backing-filename',
  'backing-filename',
  'dirty-flag',
];

export function qemuKeyOrder(info: ImageInfo): Record<string, unknown> {
  const src = info as unknown as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of QEMU_ORDER) if (src[k] !== undefined) out[k] = src[k];
  for (const k of Object.keys(src)) if (!(k in out) && src[k] !== undefined) out[k] = src[k];
  return out;
}

/** qemu-img's bdrv_image_info_dump. */
export function humanInfo(info: ImageInfo): string {
  const lines = [
    `image: ${info.filename}`,
    `file format: ${info.format}`,
    `virtual size: ${sizeToStr(info['virtual-size'])} (${info['virtual-size']} bytes)`,
    `disk size: ${sizeToStr(info['actual-size'])}`,
  ];
  if (info['cluster-size'] !== undefined) lines.push(`cluster_size: ${info['cluster-size']}`);
  if (info['dirty-flag']) lines.push('cleanly shut down: no');
  const backing = info['backing-filename'];
  if (backing !== undefined) {
    const full = info['full-backing-filename'];
    let line = `backing file: ${backing}`;
    if (full === undefined) line += ' (cannot determine actual path)';
    else if (full !== backing) line += ` (actual path: ${full})`;
    lines.push(line);
    if (info['backing-filename-format'] !== undefined) {
      lines.push(`backing file format: ${info['backing-filename-format']}`);
    }
  }
  if (info.snapshots?.length) {
    lines.push(
      ...snapshotTable(
        info.snapshots.map((j) => ({
          id: j.id,
          name: j.name,
          vmStateSize: j['vm-state-size'],
          date: new Date(j['date-sec'] * 1000 + Math.floor(j['date-nsec'] / 1e6)),
          vmClockNsec: BigInt(j['vm-clock-sec']) * 1_000_000_000n + BigInt(j['vm-clock-nsec']),
          diskSize: undefined,
          icount: j.icount === undefined ? undefined : BigInt(j.icount),
        })),
      )
        .trimEnd()
        .split('\n'),
    );
  }
  const specific = info['format-specific'];
  if (specific) {
    lines.push('Format specific information:');
    dumpDict(1, specific.data, lines);
  }
  return lines.map((l) => l + '\n').join('');
}

function isComposite(v: unknown): v is Record<string, unknown> | unknown[] {
  return typeof v === 'object' && v !== null;
}

function scalar(v: unknown): string {
  return typeof v === 'string' ? v : String(v);
}

/** qemu's dump_qdict: dashes in keys become spaces, each level indents four spaces. */
function dumpDict(level: number, dict: Record<string, unknown>, lines: string[]): void {
  const pad = ' '.repeat(level * 4);
  for (const [key, value] of Object.entries(dict)) {
    const name = key.replace(/-/g, ' ');
    if (isComposite(value)) {
      lines.push(`${pad}${name}:`);
      dumpValue(level + 1, value, lines);
    } else {
      lines.push(`${pad}${name}: ${scalar(value)}`);
    }
  }
}

/** qemu's dump_qlist: items are "[i]:". */
function dumpValue(level: number, value: Record<string, unknown> | unknown[], lines: string[]): void {
  if (!Array.isArray(value)) {
    dumpDict(level, value, lines);
    return;
  }
  const pad = ' '.repeat(level * 4);
  value.forEach((item, i) => {
    if (isComposite(item)) {
      lines.push(`${pad}[${i}]:`);
      dumpValue(level + 1, item, lines);
    } else {
      lines.push(`${pad}[${i}]: ${scalar(item)}`);
    }
  });
}
