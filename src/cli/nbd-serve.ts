/**
 * `vdisk nbd serve`: exports images over NBD, modelled on qemu-nbd.
 *
 *     vdisk nbd serve [-f fmt] [-x NAME]... [-b ADDR] [-p PORT | -k SOCKET] [-r] [-e N]
 *                     [--cache MODE] [--aio MODE] [--discard ignore|unmap] [-D TEXT]...
 *                     [--tls-creds DIR] [--tls-psk FILE] IMAGE...
 *
 * Each image is one export, named by its `-x` (in order) or by its file's base name; the empty
 * export name selects the first one, so `nbd://host/` works as with qemu-nbd. Once listening, it
 * prints one URI per export on stdout. Differences from qemu-nbd: several images at once; `-e`
 * (connections at once) defaults to 64, because a shared disk has many clients; the server keeps
 * running when the last client leaves (qemu-nbd's --persistent).
 *
 * With --tls-creds or --tls-psk (or both), TLS is required before any export is shown (the spec's
 * FORCEDTLS mode), and the printed URIs are nbds:// ones.
 *
 * SIGINT and SIGTERM stop it cleanly: no new connections, in-flight requests finish (later ones
 * get NBD_ESHUTDOWN), then every image is flushed and closed, and the exit code is 0. A second
 * signal exits at once with code 1.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import type { AioMode, CacheMode } from '../block/index.js';
import { openImage, type Image, type ImageFormat } from '../formats/index.js';
import {
  loadX509Dir,
  NBD_DEFAULT_PORT,
  NbdExport,
  NbdServer,
  parsePskFile,
  tlsUpgrader,
  type DiscardMode,
  type ListenAddress,
  type NbdTlsConfig,
} from '../nbd/index.js';
import { BusyPoll, UsageError } from '../util/index.js';
import {
  collect,
  parseAio,
  parseCache,
  parseOptionalFormat,
  parsePollMaxNs,
  parseTcpCongestion,
  POLL_MAX_NS_HELP,
  TCP_CONGESTION_HELP,
} from './args.js';
import { errorMessage, print, printError } from './output.js';
import { closeImages, untilSignal } from './serve-lifecycle.js';

export interface NbdServeOptions {
  format?: ImageFormat;
  names?: string[];
  bind?: string;
  port?: string;
  socket?: string;
  readOnly?: boolean;
  shared?: string;
  cache?: CacheMode;
  aio?: AioMode;
  discard?: string;
  descriptions?: string[];
  tlsCreds?: string;
  tlsPsk?: string;
  /** --poll-max-ns: the longest event-loop polling window, as typed. */
  pollMaxNs?: string;
  /** --tcp-congestion, as typed. */
  tcpCongestion?: string;
}

/** The checked form of the options: everything `nbdServe` needs, nothing left to parse. */
export interface ServePlan {
  images: { file: string; name: string; description: string }[];
  listen: ListenAddress;
  readOnly: boolean;
  maxConnections: number;
  discard: DiscardMode;
  format?: ImageFormat;
  cache?: CacheMode;
  aio?: AioMode;
  tls?: NbdTlsConfig;
  pollMaxNs: number;
  /** auto, system, or an algorithm's name (block/tcp-congestion.ts). */
  tcpCongestion: string;
}

export function planServe(images: string[], o: NbdServeOptions): ServePlan {
  if (images.length === 0) throw new UsageError('nbd serve: name at least one image to export');
  if (o.port !== undefined && o.socket !== undefined) {
    throw new UsageError('nbd serve: -p PORT and -k SOCKET exclude each other');
  }
  if (o.bind !== undefined && o.socket !== undefined) {
    throw new UsageError('nbd serve: -b ADDR and -k SOCKET exclude each other');
  }
  const names = o.names ?? images.map((f) => path.basename(f));
  if (names.length !== images.length) {
    throw new UsageError(`nbd serve: ${names.length} export names (-x) for ${images.length} images`);
  }
  const seen = new Set<string>();
  for (const n of names) {
    if (seen.has(n))
      throw new UsageError(`nbd serve: two exports are named '${n}': give each a name with -x`);
    if (Buffer.byteLength(n) > 4096 || n.includes('\0'))
      throw new UsageError(`nbd serve: bad export name '${n}'`);
    seen.add(n);
  }
  const descs = o.descriptions ?? [];
  if (descs.length > 1 && descs.length !== images.length) {
    throw new UsageError(`nbd serve: ${descs.length} descriptions (-D) for ${images.length} images`);
  }
  const discard = o.discard ?? 'ignore';
  if (discard !== 'ignore' && discard !== 'unmap') {
    throw new UsageError(`nbd serve: invalid discard mode '${discard}': use ignore or unmap`);
  }
  let listen: ListenAddress;
  if (o.socket !== undefined) {
    if (o.socket === '') throw new UsageError('nbd serve: empty socket path');
    listen = { path: o.socket };
  } else {
    const port = o.port === undefined ? NBD_DEFAULT_PORT : Number(o.port);
    if (!/^\d+$/.test(o.port ?? '0') || !Number.isInteger(port) || port < 0 || port > 65535) {
      throw new UsageError(`nbd serve: invalid port '${o.port}': use 0 to 65535`);
    }
    listen = { host: o.bind ?? '0.0.0.0', port };
  }
  const maxConnections = o.shared === undefined ? 64 : Number(o.shared);
  if (!/^\d+$/.test(o.shared ?? '1') || !(maxConnections >= 1)) {
    throw new UsageError(`nbd serve: invalid connection limit '${o.shared}': use a number of at least 1`);
  }
  const pollMaxNs = parsePollMaxNs(o.pollMaxNs, 'nbd serve');
  const tcpCongestion = parseTcpCongestion(o.tcpCongestion, 'nbd serve');
  let tls: NbdTlsConfig | undefined;
  if (o.tlsCreds !== undefined || o.tlsPsk !== undefined) {
    try {
      tls = {
        x509: o.tlsCreds === undefined ? undefined : loadX509Dir(o.tlsCreds),
        psk: o.tlsPsk === undefined ? undefined : parsePskFile(fs.readFileSync(o.tlsPsk, 'utf8'), o.tlsPsk),
      };
    } catch (err) {
      throw new UsageError(`nbd serve: ${errorMessage(err)}`);
    }
  }
  return {
    images: images.map((file, i) => ({
      file,
      name: names[i]!,
      description: descs.length === 1 ? descs[0]! : (descs[i] ?? ''),
    })),
    listen,
    readOnly: o.readOnly ?? false,
    maxConnections,
    discard,
    format: o.format,
    cache: o.cache,
    aio: o.aio,
    tls,
    pollMaxNs,
    tcpCongestion,
  };
}

/** One URI per export, as libnbd and qemu spell them (RFC: nbd/doc/uri.md). */
export function exportUris(plan: ServePlan, bound: string): string[] {
  return plan.images.map((img) => {
    const name = encodeURIComponent(img.name);
    const scheme = plan.tls ? 'nbds' : 'nbd';
    if ('path' in plan.listen) {
      return `${scheme}+unix:///${name}?socket=${encodeURIComponent(plan.listen.path)}`;
    }
    return `${scheme}://${bound}/${name}`;
  });
}

export async function nbdServe(imageFiles: string[], o: NbdServeOptions): Promise<number> {
  const plan = planServe(imageFiles, o);
  const opened: Image[] = [];
  let server: NbdServer | undefined;
  try {
    for (const img of plan.images) {
      opened.push(
        await openImage(img.file, {
          format: plan.format,
          readOnly: plan.readOnly,
          cache: plan.cache,
          aio: plan.aio,
        }),
      );
    }
    server = new NbdServer({
      exports: plan.images.map(
        (img, i) =>
          new NbdExport({
            name: img.name,
            description: img.description,
            device: opened[i]!,
            readOnly: plan.readOnly,
            discard: plan.discard,
          }),
      ),
      maxConnections: plan.maxConnections,
      startTls: plan.tls ? tlsUpgrader(plan.tls) : undefined,
      log: (m) => printError(`nbd: ${m}`),
      poll: new BusyPoll(plan.pollMaxNs),
      tcpCongestion: plan.tcpCongestion,
    });
    const bound = await server.listen(plan.listen);
    print(exportUris(plan, bound).join('\n') + '\n');
    await untilSignal();
    await server.close();
    server = undefined;
    return await closeImages(opened);
  } catch (err) {
    await server?.close();
    await closeImages(opened);
    throw err;
  }
}

type Runner = <A extends unknown[]>(fn: (...args: A) => Promise<number>) => (...args: A) => Promise<void>;

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** Declares `vdisk nbd serve` on the program. */
export function registerNbdCommands(program: Command, run: Runner): void {
  const nbd = program.command('nbd').description('serve images over NBD (like qemu-nbd)');
  nbd
    .command('serve')
    .description('export images over NBD until SIGINT/SIGTERM; prints one URI per export')
    .argument('<images...>', 'image files; each one is an export')
    .option('-f, --format <fmt>', 'format of the images (probed when absent)')
    .option(
      '-x, --export-name <name>',
      'export name of the next image (repeatable; default: base name)',
      collect,
    )
    .option('-b, --bind <addr>', 'address to listen on (default 0.0.0.0)')
    .option('-p, --port <port>', `TCP port (default ${NBD_DEFAULT_PORT}; 0 picks a free one)`)
    .option('-k, --socket <path>', 'listen on a Unix socket instead of TCP')
    .option('-r, --read-only', 'export read-only')
    .option('-e, --shared <n>', 'connections served at once (default 64)')
    .option('--cache <mode>', 'writeback, none, writethrough, directsync or unsafe (default writeback)')
    .option(
      '--aio <mode>',
      'I/O engine: threads (default), io_uring, or native (needs cache none/directsync)',
    )
    .option('--discard <mode>', 'ignore (default) or unmap: whether trim and zeroes may free space')
    .option(
      '-D, --description <text>',
      'description of the exports (once), or of the next (repeatable)',
      collect,
    )
    .option('--tls-creds <dir>', 'require TLS: server-cert.pem, server-key.pem (and ca-cert.pem) from DIR')
    .option('--tls-psk <file>', 'require TLS with pre-shared keys: identity:hexkey lines (psktool format)')
    .option('--poll-max-ns <ns>', POLL_MAX_NS_HELP)
    .option('--tcp-congestion <name>', TCP_CONGESTION_HELP)
    .action(
      run(async (images: string[], o: Record<string, unknown>) =>
        nbdServe(images, {
          format: parseOptionalFormat(str(o['format'])),
          names: o['exportName'] as string[] | undefined,
          bind: str(o['bind']),
          port: str(o['port']),
          socket: str(o['socket']),
          readOnly: o['readOnly'] === true,
          shared: str(o['shared']),
          cache: parseCache(str(o['cache'])),
          aio: parseAio(str(o['aio'])),
          discard: str(o['discard']),
          descriptions: o['description'] as string[] | undefined,
          tlsCreds: str(o['tlsCreds']),
          tlsPsk: str(o['tlsPsk']),
          pollMaxNs: str(o['pollMaxNs']),
          tcpCongestion: str(o['tcpCongestion']),
        }),
      ),
    );
}
