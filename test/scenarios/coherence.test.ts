/**
 * Coherence between clients of one shared disk (issue 6): `vdisk iscsi serve --nbd` owns a qcow2
 * image and serves it to iSCSI initiators and NBD clients at once; real qemu-io processes are
 * the clients, mixed over iscsi:// and nbd://.
 *
 * - Visibility: a write completed for one client is seen by every later read from every other
 *   client and connection, whatever the two protocols (rounds of write-then-read-elsewhere).
 * - Atomic blocks: several clients race overlapping writes of different patterns, each with many
 *   writes in flight; afterwards every 512-byte block holds one pattern whole (no torn sector),
 *   and every block that some write covered holds one of the patterns written to it.
 * - The image is clean for `qemu-img check` after the server stops.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { assertQemuCheckClean, qemuImgOk } from '../helpers/qemu.js';
import { tmpDir } from '../helpers/tmp.js';
import { describeRun, run, skipWithout } from '../nbd/helpers.js';

const VDISK = path.resolve('bin/vdisk.js');
const IQN = 'iqn.2026-11.io.vdisk:shared';
const SECTOR = 512;
const skip = await skipWithout('qemu-io', 'qemu-img');

interface Server {
  proc: ChildProcess;
  iscsi: string;
  nbd: string;
  exited: Promise<number | null>;
  stderr: () => string;
}

async function serve(image: string, stateDir: string): Promise<Server> {
  const proc = spawn(
    process.execPath,
    [
      VDISK,
      'iscsi',
      'serve',
      '--target',
      IQN,
      '--portal',
      '127.0.0.1:0',
      '--lun',
      `0=${image}`,
      '--nbd',
      '127.0.0.1:0',
    ],
    { env: { ...process.env, VDISK_STATE_DIR: stateDir }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  after(() => {
    proc.kill('SIGKILL');
  });
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  const lines = await new Promise<string[]>((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const ls = out.split('\n').filter(Boolean);
      if (ls.length >= 2 && out.endsWith('\n')) resolve(ls);
    });
    void exited.then((code) => reject(new Error(`vdisk iscsi serve exited ${code}: ${err}`)));
  });
  return { proc, iscsi: lines[0]!, nbd: lines[1]!, exited, stderr: () => err };
}

/** qemu-io on a URL, raw protocol driver, commands in order; fails the test on any failure. */
async function qemuIo(url: string, cmds: string[]): Promise<string> {
  const r = await run('qemu-io', ['-f', 'raw', ...cmds.flatMap((c) => ['-c', c]), url]);
  assert.equal(r.status, 0, describeRun(r));
  assert.doesNotMatch(r.stdout + r.stderr, /Pattern verification failed|error|failed/i, describeRun(r));
  return r.stdout;
}

/** xorshift32, for a repeatable layout. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

describe('coherence of one disk served over iSCSI and NBD by one owner', { skip }, () => {
  if (skip) return;
  const dir = tmpDir('vdisk-coherence-');

  test('a completed write is seen by every later read from every other client (iscsi and nbd, mixed)', async () => {
    const image = path.join(dir, 'visible.qcow2');
    qemuImgOk(['create', '-q', '-f', 'qcow2', image, '64M']);
    const srv = await serve(image, path.join(dir, 'state1'));
    // Three clients: two iSCSI sessions and one NBD connection (each qemu-io run is a new one).
    const clients = [srv.iscsi, srv.nbd, srv.iscsi];
    const rnd = prng(7);
    for (let round = 0; round < 9; round++) {
      const writer = clients[round % 3]!;
      const pat = 0x10 + round;
      // Overlapping ranges: each round lands on top of earlier ones (sector-aligned, 4k..256k).
      const off = Math.floor(rnd() * 64) * 4096;
      const len = (1 + Math.floor(rnd() * 64)) * 4096;
      await qemuIo(writer, [`write -P ${pat} ${off} ${len}`]);
      for (let k = 1; k <= 2; k++) {
        await qemuIo(clients[(round + k) % 3]!, [`read -P ${pat} ${off} ${len}`]);
      }
    }
    srv.proc.kill('SIGTERM');
    assert.equal(await srv.exited, 0, srv.stderr());
    assertQemuCheckClean(image, 'after the visibility rounds');
  });

  test('racing overlapping writes from four clients leave no torn sector', async () => {
    const image = path.join(dir, 'race.qcow2');
    qemuImgOk(['create', '-q', '-f', 'qcow2', image, '64M']);
    const srv = await serve(image, path.join(dir, 'state2'));
    const AREA = 1024 * 1024;
    const patterns = [0x11, 0x22, 0x33, 0x44];
    const urls = [srv.iscsi, srv.nbd, srv.iscsi, srv.nbd];
    const covered = new Map<number, Set<number>>();
    const jobs = urls.map((url, i) => {
      const rnd = prng(100 + i);
      const cmds: string[] = [];
      // 48 writes in flight per client: odd sizes and offsets (whole sectors), all in one 1 MiB
      // area, so they overlap each other and the other clients' writes.
      for (let n = 0; n < 48; n++) {
        const sectors = 1 + Math.floor(rnd() * 300);
        const first = Math.floor(rnd() * (AREA / SECTOR - sectors));
        cmds.push(`aio_write -P ${patterns[i]} ${first * SECTOR} ${sectors * SECTOR}`);
        for (let s = first; s < first + sectors; s++) {
          let set = covered.get(s);
          if (!set) covered.set(s, (set = new Set()));
          set.add(patterns[i]!);
        }
      }
      cmds.push('aio_flush');
      return qemuIo(url, cmds);
    });
    await Promise.all(jobs);
    srv.proc.kill('SIGTERM');
    assert.equal(await srv.exited, 0, srv.stderr());
    assertQemuCheckClean(image, 'after the race');

    const raw = path.join(dir, 'race.raw');
    qemuImgOk(['convert', '-f', 'qcow2', '-O', 'raw', image, raw]);
    const data = fs.readFileSync(raw).subarray(0, AREA);
    let torn = 0;
    let wrong = 0;
    for (let s = 0; s < AREA / SECTOR; s++) {
      const sector = data.subarray(s * SECTOR, (s + 1) * SECTOR);
      const v = sector[0]!;
      if (!sector.every((b) => b === v)) torn++;
      const allowed = covered.get(s);
      if (allowed ? !allowed.has(v) : v !== 0) wrong++;
    }
    assert.equal(torn, 0, 'sectors holding more than one pattern');
    assert.equal(wrong, 0, 'sectors holding a pattern no client wrote there');
    assert.ok(covered.size > 1000, 'the writes covered most of the area');
  });
});
