/**
 * `vdisk iscsi serve`: exports images as SCSI logical units over iSCSI, in the spirit of tgtd and
 * targetcli, until SIGINT or SIGTERM.
 *
 *     vdisk iscsi serve --target IQN [--portal ADDR:PORT]... [--alias TEXT]
 *                       [--lun N=IMAGE[,format=..,cache=..,ssd=1,discard=on|ignore,readonly=1]]...
 *                       [--chap USER:SECRET] [--mutual-chap USER:SECRET] [--allow INITIATOR_IQN]...
 *     vdisk iscsi serve --config FILE [--portal ADDR:PORT]...     (several targets; iscsi-config.ts)
 *     (both: [--nop-interval SECONDS] [--nop-timeout SECONDS], the target's NOP-In pings,
 *      and [--nbd [ADDR:]PORT]: the same images over NBD too, from this one process)
 *
 * The default portal is 0.0.0.0:3260. Once listening it prints one URL per LUN on stdout,
 * `iscsi://HOST:PORT/IQN/LUN` (the first portal), which libiscsi and QEMU take as they are.
 * With --nbd, one `nbd://HOST:PORT/NAME` line per image follows. A shared disk needs one owner:
 * iSCSI initiators and NBD clients of the same image then see each other's writes at once.
 *
 * Each image is opened once, even when several targets map it, and is one logical unit. Its
 * identity (the UUID behind VPD 80h/83h) is derived from the image's real path, so the same file
 * always shows the same NAA designator and serial number until the storage layer keeps volume
 * UUIDs of its own.
 *
 * SIGINT and SIGTERM stop it cleanly: no new connections, sessions are asked to log out (Async
 * Message) and dropped after a grace period, commands in flight finish, then every image is
 * flushed and closed, and the exit code is 0. A second signal exits at once with code 1.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { openImage, type Image } from '../formats/index.js';
import { formatHostPort, IscsiServer } from '../iscsi/index.js';
import { NbdExport, NbdServer } from '../nbd/index.js';
import {
  FileReservationStore,
  LogicalUnit,
  MAX_TRANSFER_BYTES,
  PersistentReservations,
  ScsiTarget,
  sharedDevice,
} from '../scsi/index.js';
import { BusyPoll, DEFAULT_POLL_MAX_NS, UsageError } from '../util/index.js';
import { collect, POLL_MAX_NS_HELP, TCP_CONGESTION_HELP } from './args.js';
import { planIscsiServe, type IscsiServeOptions, type IscsiServePlan, type LunPlan } from './iscsi-config.js';
import { errorMessage, print, printError } from './output.js';
import { closeImages, untilSignal } from './serve-lifecycle.js';

/**
 * Where persistent reservation state lives: $VDISK_STATE_DIR/reservations, else
 * $XDG_STATE_HOME/vdisk/reservations, else ~/.local/state/vdisk/reservations; one file per LU UUID.
 */
export function reservationDir(): string {
  const base =
    process.env.VDISK_STATE_DIR ??
    path.join(process.env.XDG_STATE_HOME ?? path.join(os.homedir(), '.local', 'state'), 'vdisk');
  return path.join(base, 'reservations');
}

/** A stable UUID for an image file: SHA-256 of its real path, shaped as an RFC 9562 version 8 UUID. */
export function imageUuid(realPath: string): string {
  const h = crypto.createHash('sha256').update(`vdisk-lu:${realPath}`).digest();
  h[6] = (h[6]! & 0x0f) | 0x80;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

/** One URL per LUN of every target, on the first portal. */
export function lunUrls(plan: IscsiServePlan, bound: { host: string; port: number }): string[] {
  const host = formatHostPort(bound.host, bound.port);
  return plan.targets.flatMap((t) => t.luns.map((l) => `iscsi://${host}/${t.name}/${l.lun}`));
}

export async function iscsiServe(o: IscsiServeOptions): Promise<number> {
  const plan = planIscsiServe(o);
  const images = new Map<string, { image: Image; lu: LogicalUnit; opts: LunPlan }>();
  let server: IscsiServer | undefined;
  let nbd: NbdServer | undefined;
  try {
    const targets = [];
    for (const t of plan.targets) {
      const st = new ScsiTarget(t.name);
      for (const l of t.luns) {
        let real: string;
        try {
          real = fs.realpathSync(l.image);
        } catch (err) {
          throw new UsageError(`iscsi serve: ${l.image}: ${errorMessage(err)}`);
        }
        let entry = images.get(real);
        if (entry) {
          const a = entry.opts;
          if (
            a.readOnly !== l.readOnly ||
            a.format !== l.format ||
            a.cache !== l.cache ||
            a.discard !== l.discard
          ) {
            throw new UsageError(`iscsi serve: ${l.image} is mapped twice with different options`);
          }
        } else {
          const image = await openImage(real, { format: l.format, readOnly: l.readOnly, cache: l.cache });
          const lu = new LogicalUnit(image, {
            uuid: imageUuid(real),
            ssd: l.ssd,
            discard: l.discard,
            readOnly: l.readOnly,
            cacheMode: l.cache,
          });
          // Persistent reservations (issue 6): power on loads an APTPL state, clears anything else.
          const pr = new PersistentReservations({
            uuid: lu.uuid,
            store: new FileReservationStore(reservationDir()),
          });
          await pr.start();
          lu.reservations = pr;
          entry = { image, lu, opts: l };
          images.set(real, entry);
        }
        st.addLun(l.lun, entry.lu);
      }
      targets.push({
        name: t.name,
        alias: t.alias,
        tpgt: t.tpgt,
        portals: t.portals?.map((p) => p),
        router: st,
        chap: t.chap,
        mutualChap: t.mutualChap,
        allowedInitiators: t.allow,
      });
    }
    // One event loop, one poller: the NBD server of --nbd shares it.
    const poll = new BusyPoll(plan.pollMaxNs ?? DEFAULT_POLL_MAX_NS);
    try {
      server = new IscsiServer({
        targets,
        timers: {
          ...(plan.nopInterval === undefined ? {} : { nopIntervalMs: plan.nopInterval * 1000 }),
          ...(plan.nopTimeout === undefined ? {} : { nopTimeoutMs: plan.nopTimeout * 1000 }),
        },
        maxCommandBytes: MAX_TRANSFER_BYTES,
        log: (m) => printError(`iscsi: ${m}`),
        poll,
        tcpCongestion: plan.tcpCongestion,
      });
    } catch (err) {
      throw new UsageError(`iscsi serve: ${errorMessage(err)}`);
    }
    const bound = await server.listen(plan.portals);
    print(lunUrls(plan, bound[0]!).join('\n') + '\n');
    if (plan.nbd) {
      nbd = nbdServer([...images.values()], poll, plan.tcpCongestion);
      const where = await nbd.listen(plan.nbd);
      print(nbdUrls([...images.values()], where).join('\n') + '\n');
    }
    await untilSignal();
    await nbd?.close();
    nbd = undefined;
    await server.close();
    server = undefined;
    // Commands the core still runs (a background SANITIZE, say) end before the flush.
    for (const e of images.values()) await e.lu.drain();
    return await closeImages([...images.values()].map((e) => e.image));
  } catch (err) {
    await nbd?.close();
    await server?.close(0);
    await closeImages([...images.values()].map((e) => e.image));
    throw err;
  }
}

/**
 * `--nbd`: the same images, opened once, exported over NBD too, so that iSCSI and NBD clients
 * share one owner and see each other's writes. The export name is the image file's base name.
 */
function nbdServer(
  entries: { image: Image; lu: LogicalUnit; opts: LunPlan }[],
  poll: BusyPoll,
  tcpCongestion: string | undefined,
): NbdServer {
  const names = new Set<string>();
  return new NbdServer({
    exports: entries.map(({ image, lu, opts }) => {
      const name = path.basename(image.filename);
      if (names.has(name)) throw new UsageError(`iscsi serve --nbd: two images are named ${name}`);
      names.add(name);
      return new NbdExport({
        name,
        description: `LUN image ${image.filename}`,
        // Writes take the LU's atomic range lock, so COMPARE AND WRITE stays atomic against them.
        device: sharedDevice(lu),
        readOnly: opts.readOnly,
        discard: opts.discard === 'on' ? 'unmap' : 'ignore',
      });
    }),
    log: (m) => printError(`nbd: ${m}`),
    poll,
    tcpCongestion,
  });
}

function nbdUrls(entries: { image: Image }[], bound: string): string[] {
  return entries.map((e) => `nbd://${bound}/${encodeURIComponent(path.basename(e.image.filename))}`);
}

const CONFIG_HELP = `
Config file (--config FILE; --portal options replace its portals):
  {
    "portals": ["0.0.0.0:3260"],
    "nopInterval": 15, "nopTimeout": 30,
    "targets": [
      {
        "name": "iqn.2026-11.io.vdisk:disk1",
        "alias": "disk one",
        "tpgt": 1,
        "portals": ["0.0.0.0:3260"],
        "luns": [{ "lun": 0, "image": "disk1.qcow2", "format": "qcow2", "cache": "none",
                   "ssd": true, "discard": "on", "readonly": false }],
        "chap": { "user": "alice", "secret": "at-least-12-chars" },
        "mutualChap": { "user": "target", "secret": "another-secret" },
        "allow": ["iqn.1994-05.com.redhat:client1"]
      }
    ]
  }
Only "name" and "luns" (each with "lun" and "image") are required; image paths are relative to
the file. An image mapped by several targets is one logical unit.
`;

type Runner = <A extends unknown[]>(fn: (...args: A) => Promise<number>) => (...args: A) => Promise<void>;

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** Declares `vdisk iscsi serve` on the program. */
export function registerIscsiCommands(program: Command, run: Runner): void {
  const iscsi = program.command('iscsi').description('serve images over iSCSI (like tgtd / targetcli)');
  iscsi
    .command('serve')
    .description('export images as iSCSI LUNs until SIGINT/SIGTERM; prints one iscsi:// URL per LUN')
    .option('--target <iqn>', 'the target name, e.g. iqn.2026-11.io.vdisk:disk1')
    .option('--alias <text>', 'the TargetAlias initiators show')
    .option('--portal <addr:port>', 'address to listen on (repeatable; default 0.0.0.0:3260)', collect)
    .option(
      '--lun <n=image>',
      'LUN N serves IMAGE; options after commas: format=, cache=, ssd=1, discard=on|ignore, readonly=1 (repeatable)',
      collect,
    )
    .option(
      '--chap <user:secret>',
      'require CHAP: the initiator must know this secret (12 or more characters)',
    )
    .option('--mutual-chap <user:secret>', 'mutual CHAP: what the target answers with (needs --chap)')
    .option('--allow <initiator-iqn>', 'admit only these initiators (repeatable; default all)', collect)
    .option(
      '--nop-interval <seconds>',
      'ping an initiator silent this long with a NOP-In (default 15; 0: never)',
    )
    .option('--nop-timeout <seconds>', 'drop an initiator that does not answer a ping in time (default 30)')
    .option(
      '--nbd <[addr:]port>',
      'also export every image over NBD from this process (export name: the file name)',
    )
    .option('--poll-max-ns <ns>', POLL_MAX_NS_HELP)
    .option('--tcp-congestion <name>', TCP_CONGESTION_HELP)
    .option('--config <file>', 'serve the targets of a JSON file (schema below)')
    .addHelpText('after', CONFIG_HELP)
    .action(
      run(async (o: Record<string, unknown>) =>
        iscsiServe({
          target: str(o['target']),
          alias: str(o['alias']),
          portals: o['portal'] as string[] | undefined,
          luns: o['lun'] as string[] | undefined,
          chap: str(o['chap']),
          mutualChap: str(o['mutualChap']),
          allow: o['allow'] as string[] | undefined,
          config: str(o['config']),
          nopInterval: str(o['nopInterval']),
          nopTimeout: str(o['nopTimeout']),
          nbd: str(o['nbd']),
          pollMaxNs: str(o['pollMaxNs']),
          tcpCongestion: str(o['tcpCongestion']),
        }),
      ),
    );
}
