/**
 * iSCSI targets as child processes, for the interop tests, `npm run conformance` and
 * `npm run bench -- iscsi` (the scripts import the compiled dist/test/helpers/iscsi-targets.js):
 *
 * - `startVdiskIscsi` runs `vdisk iscsi serve` on loopback portals picked here, and resolves
 *   once it printed one iscsi:// URL per LUN (its "listening" signal) and every portal accepts
 *   connections. Stopping sends SIGTERM (vdisk drains, flushes and logs the sessions out).
 * - `startTgtd` runs a private tgtd (Debian's tgt) with its own management channel (-C), so a
 *   system tgtd on port 3260 is left alone, and configures it through tgtadm. tgtd numbers its
 *   disks from LUN 1 (LUN 0 is its controller); `url(n)` hides that. tgtd ignores SIGTERM, so
 *   stopping is SIGKILL (its rdwr backing store keeps no data of its own).
 *
 * Both return the same `IscsiTarget` shape, so a test or benchmark can run against either.
 * Nothing here depends on node:test; test/helpers/iscsi.ts adds the per-test cleanup.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file runs from test/helpers or dist/test/helpers). */
export const REPO_ROOT = (() => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return dir;
})();

export interface IscsiLun {
  file: string;
  format: 'raw' | 'qcow2';
  readonly?: boolean;
  /** More vdisk --lun options, e.g. 'discard=on', 'cache=none', 'ssd=1'. */
  options?: string[];
}

export interface IscsiTarget {
  kind: 'vdisk' | 'tgtd';
  iqn: string;
  host: string;
  ports: number[];
  /** The URL of the n-th LUN given at start, through the p-th portal; `auth` is 'user%secret'. */
  url(n?: number, portal?: number, auth?: string): string;
  /** What the target printed so far. */
  output(): string;
  /** Lines starting with iscsi:// that the target printed (vdisk only). */
  printedUrls(): string[];
  /** Stops the target and resolves when it exited; returns its exit code or signal. */
  stop(): Promise<number | string | null>;
  pid: number | undefined;
}

export interface StartOptions {
  luns: IscsiLun[];
  /** Number of loopback portals (default 1). */
  portals?: number;
  iqn?: string;
  /** CHAP: the initiator's name and secret (one-way), and the target's (mutual). */
  chap?: { user: string; secret: string };
  mutualChap?: { user: string; secret: string };
  /** More `vdisk iscsi serve` arguments (--allow ...). */
  extraArgs?: string[];
  /** Extra node flags for vdisk (e.g. --cpu-prof). */
  nodeArgs?: string[];
  /** tgtadm --params for every tgtd LUN (e.g. thin_provisioning=1). */
  lunParams?: string[];
  /** Fixed ports instead of free ones (a restart on the same portal). */
  ports?: number[];
  /**
   * vdisk only: serve a `--config FILE` instead (luns, iqn and chap are then ignored); the
   * start waits for `urls` printed URLs and for `ports` to listen.
   */
  config?: { file: string; ports: number[]; urls: number };
  /** Copy everything the target prints into this file. */
  logFile?: string;
}

export const DEFAULT_IQN = 'iqn.2026-11.org.vdisk:test';
const HOST = '127.0.0.1';

export async function freePort(host = HOST): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve, reject) => s.once('error', reject).listen(0, host, resolve));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(port, host);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

const exited = (c: ChildProcess): boolean => c.exitCode !== null || c.signalCode !== null;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitListening(port: number, child: ChildProcess, describe: () => string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (exited(child))
      throw new Error(`exited (${child.exitCode ?? child.signalCode}) before listening: ${describe()}`);
    if (await canConnect(HOST, port)) return;
    await sleep(20);
  }
  throw new Error(`nothing listens on ${HOST}:${port} after 10 s: ${describe()}`);
}

/** Sends `signal` (none when null), SIGKILL after `timeoutMs`; resolves to the exit code or signal. */
export async function stopChild(
  child: ChildProcess,
  timeoutMs = 15_000,
  signal: NodeJS.Signals | null = 'SIGTERM',
): Promise<number | string | null> {
  if (!exited(child)) {
    const done = new Promise((resolve) => child.once('exit', resolve));
    if (signal) child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    await done;
    clearTimeout(timer);
  }
  return child.exitCode ?? child.signalCode;
}

function capture(child: ChildProcess, logFile?: string): { text: () => string; close: () => void } {
  let text = '';
  const log = logFile ? fs.createWriteStream(logFile) : undefined;
  const take = (d: Buffer): void => {
    text += d.toString();
    log?.write(d);
  };
  child.stdout?.on('data', take);
  child.stderr?.on('data', take);
  return { text: () => text, close: () => log?.end() };
}

function urlOf(iqn: string, port: number, lun: number, auth?: string): string {
  return `iscsi://${auth ? `${auth}@` : ''}${HOST}:${port}/${iqn}/${lun}`;
}

/** `vdisk iscsi serve` with `luns` as LUNs 0.., on fresh loopback portals. */
export async function startVdiskIscsi(opts: StartOptions): Promise<IscsiTarget> {
  const iqn = opts.iqn ?? DEFAULT_IQN;
  const ports = [...(opts.ports ?? [])];
  for (let i = ports.length; i < (opts.portals ?? 1); i++) ports.push(await freePort());
  const args = [...(opts.nodeArgs ?? []), path.join(REPO_ROOT, 'bin', 'vdisk.js'), 'iscsi', 'serve'];
  if (opts.config) {
    args.push('--config', opts.config.file);
    ports.splice(0, ports.length, ...opts.config.ports);
  } else {
    args.push('--target', iqn);
    for (const p of ports) args.push('--portal', `${HOST}:${p}`);
    opts.luns.forEach((l, n) => {
      const lunOpts = [`format=${l.format}`, ...(l.readonly ? ['readonly=1'] : []), ...(l.options ?? [])];
      args.push('--lun', `${n}=${l.file},${lunOpts.join(',')}`);
    });
    if (opts.chap) args.push('--chap', `${opts.chap.user}:${opts.chap.secret}`);
    if (opts.mutualChap) args.push('--mutual-chap', `${opts.mutualChap.user}:${opts.mutualChap.secret}`);
  }
  args.push(...(opts.extraArgs ?? []));
  const urlCount = opts.config?.urls ?? opts.luns.length;
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  const out = capture(child, opts.logFile);
  const printedUrls = (): string[] => stdout.split('\n').filter((l) => l.startsWith('iscsi://'));
  const describe = (): string => `${process.execPath} ${args.join(' ')}\n${out.text()}`;
  try {
    for (let i = 0; printedUrls().length < urlCount; i++) {
      if (exited(child))
        throw new Error(
          `exited (${child.exitCode ?? child.signalCode}) before printing its URLs: ${describe()}`,
        );
      if (i > 1500) throw new Error(`printed no URL per LUN in 30 s: ${describe()}`);
      await sleep(20);
    }
    for (const p of ports) await waitListening(p, child, describe);
  } catch (err) {
    await stopChild(child, 0, 'SIGKILL');
    out.close();
    throw new Error(`vdisk iscsi serve ${(err as Error).message}`);
  }
  return {
    kind: 'vdisk',
    iqn,
    host: HOST,
    ports,
    url: (n = 0, portal = 0, auth) => urlOf(iqn, ports[portal]!, n, auth),
    output: out.text,
    printedUrls,
    pid: child.pid,
    stop: async () => {
      const r = await stopChild(child);
      out.close();
      return r;
    },
  };
}

function tgtadm(control: number, args: string[]): string {
  const r = spawnSync('tgtadm', ['-C', String(control), '--lld', 'iscsi', ...args], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new Error(`tgtadm -C ${control} ${args.join(' ')}: ${String(r.error ?? '')}${r.stderr}${r.stdout}`);
  }
  return r.stdout;
}

/** A private tgtd serving `luns` (raw files) as its LUNs 1.., on fresh loopback portals. */
export async function startTgtd(opts: StartOptions): Promise<IscsiTarget> {
  if (spawnSync('tgtd', ['-V'], { stdio: 'ignore' }).error) {
    throw new Error(
      'tgtd is not installed (Debian tgt; `npm run bench -- iscsi` installs it without starting it)',
    );
  }
  const iqn = opts.iqn ?? DEFAULT_IQN;
  const ports = [...(opts.ports ?? [])];
  for (let i = ports.length; i < (opts.portals ?? 1); i++) ports.push(await freePort());
  let child: ChildProcess | undefined;
  let out: ReturnType<typeof capture> | undefined;
  let control = 0;
  for (let attempt = 0; !child; attempt++) {
    control = 20000 + Math.floor(Math.random() * 12000); // tgtd takes 1..32767
    const c = spawn('tgtd', ['-f', '-C', String(control), '--iscsi', `portal=${HOST}:${ports[0]}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const o = capture(c, opts.logFile);
    try {
      await waitListening(ports[0]!, c, o.text);
      child = c;
      out = o;
    } catch (err) {
      await stopChild(c, 0, 'SIGKILL');
      o.close();
      if (attempt >= 3) throw new Error(`tgtd ${(err as Error).message}`);
    }
  }
  const stop = async (): Promise<number | string | null> => {
    // tgtd ignores SIGTERM, and `tgtadm --op delete --mode system` refuses while targets exist.
    // Its rdwr backing store writes straight to the file, so nothing is lost by SIGKILL.
    const r = await stopChild(child, 0, 'SIGKILL');
    out!.close();
    return r;
  };
  try {
    tgtadm(control, ['--op', 'new', '--mode', 'target', '--tid', '1', '-T', iqn]);
    opts.luns.forEach((l, n) => {
      if (l.format !== 'raw') throw new Error(`tgtd serves raw files only, not ${l.format}`);
      const lun = ['--tid', '1', '--lun', String(n + 1)];
      tgtadm(control, ['--op', 'new', '--mode', 'logicalunit', ...lun, '-b', l.file]);
      const params = [...(opts.lunParams ?? []), ...(l.readonly ? ['readonly=1'] : [])];
      if (params.length)
        tgtadm(control, ['--op', 'update', '--mode', 'logicalunit', ...lun, '--params', params.join(',')]);
    });
    tgtadm(control, ['--op', 'bind', '--mode', 'target', '--tid', '1', '-I', 'ALL']);
    for (const [who, outgoing] of [
      [opts.chap, false],
      [opts.mutualChap, true],
    ] as const) {
      if (!who) continue;
      tgtadm(control, ['--op', 'new', '--mode', 'account', '--user', who.user, '--password', who.secret]);
      const bind = ['--op', 'bind', '--mode', 'account', '--tid', '1', '--user', who.user];
      tgtadm(control, outgoing ? [...bind, '--outgoing'] : bind);
    }
    for (const p of ports.slice(1)) {
      tgtadm(control, ['--op', 'new', '--mode', 'portal', '--param', `portal=${HOST}:${p}`]);
      await waitListening(p, child, out!.text);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    kind: 'tgtd',
    iqn,
    host: HOST,
    ports,
    url: (n = 0, portal = 0, auth) => urlOf(iqn, ports[portal]!, n + 1, auth),
    output: out!.text,
    printedUrls: () => [],
    pid: child.pid,
    stop,
  };
}

/** Starts either kind of target. */
export function startTarget(kind: 'vdisk' | 'tgtd', opts: StartOptions): Promise<IscsiTarget> {
  return kind === 'vdisk' ? startVdiskIscsi(opts) : startTgtd(opts);
}

/** True when `vdisk iscsi serve` exists in this build (its --help exits 0). */
export function vdiskIscsiAvailable(): boolean {
  const r = spawnSync(
    process.execPath,
    [path.join(REPO_ROOT, 'bin', 'vdisk.js'), 'iscsi', 'serve', '--help'],
    {
      stdio: 'ignore',
    },
  );
  return r.status === 0;
}
