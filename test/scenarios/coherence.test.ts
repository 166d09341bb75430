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
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { assertQemuCheckClean, qemuImgOk } from '../helpers/qemu.js';
import { spawnServing, type ServingProcess } from '../helpers/serve.js';
import { tmpDir } from '../helpers/tmp.js';
import { RawInitiator } from '../iscsi/helpers.js';
import { describeRun, run, skipWithout } from '../nbd/helpers.js';

const IQN = 'iqn.2026-11.io.vdisk:shared';
const SECTOR = 512;
const skip = await skipWithout('qemu-io', 'qemu-img');

interface Server extends ServingProcess {
  iscsi: string;
  nbd: string;
}

/** `vdisk iscsi serve` of one image with --nbd: its iscsi:// and nbd:// URLs. */
async function serve(image: string, stateDir: string): Promise<Server> {
  const args = ['iscsi', 'serve', '--target', IQN, '--portal', '127.0.0.1:0', '--lun', `0=${image}`];
  const s = await spawnServing([...args, '--nbd', '127.0.0.1:0'], 2, {
    ...process.env,
    VDISK_STATE_DIR: stateDir,
  });
  return { ...s, iscsi: s.lines[0]!, nbd: s.lines[1]! };
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
  test('many large reads in flight over iSCSI each get their own bytes (pooled read buffers)', async () => {
    const image = path.join(dir, 'large-reads.qcow2');
    qemuImgOk(['create', '-q', '-f', 'qcow2', image, '64M']);
    const srv = await serve(image, path.join(dir, 'state3'));
    const KIB = 1024;
    const sizes = [192 * KIB, 512 * KIB, 1024 * KIB, 384 * KIB];
    const regions = Array.from({ length: 24 }, (_, i) => ({
      off: i * 1024 * KIB,
      len: sizes[i % 4]!,
      pat: 0x30 + i,
    }));
    await qemuIo(
      srv.nbd,
      regions.map((r) => `write -P ${r.pat} ${r.off} ${r.len}`),
    );
    // Three rounds of 24 reads in flight at once, in an order that mixes sizes and regions.
    for (let round = 0; round < 3; round++) {
      const order = regions.map((_, i) => regions[(i * 7 + round * 5) % regions.length]!);
      await qemuIo(srv.iscsi, [...order.map((r) => `aio_read -P ${r.pat} ${r.off} ${r.len}`), 'aio_flush']);
    }
    srv.proc.kill('SIGTERM');
    assert.equal(await srv.exited, 0, srv.stderr());
  });
  test('Data-In held back by a client that stops reading keeps its bytes while other clients read', async () => {
    const image = path.join(dir, 'held.raw');
    fs.writeFileSync(image, '');
    fs.truncateSync(image, 64 << 20);
    const srv = await serve(image, path.join(dir, 'state4'));
    const KIB = 1024;
    const N = 12;
    // Region i (1 MiB apart) holds pattern 0x40 + i.
    await qemuIo(
      srv.nbd,
      Array.from({ length: 2 * N }, (_, i) => `write -P ${0x40 + i} ${i * 1024 * KIB} ${512 * KIB}`),
    );
    const port = Number(/:(\d+)\//.exec(srv.iscsi)![1]);
    const iqn = srv.iscsi.split('/')[3]!;
    const slow = await RawInitiator.connect(port);
    await slow.login([['MaxRecvDataSegmentLength', '262144']], {
      target: iqn,
      initiator: 'iqn.2026-11.io.vdisk:slow',
    });
    for (let i = 0; i < 5; i++) {
      slow.command([0, 0, 0, 0, 0, 0]); // clear the power-on unit attention
    }
    // The slow client asks for N reads of 512 KiB and stops reading its socket.
    slow.socket.pause();
    const itts = new Map<number, number>();
    for (let i = 0; i < N; i++) {
      const lba = (i * 1024 * KIB) / 512;
      const itt = slow.command(
        [0x28, 0, (lba >>> 24) & 0xff, (lba >>> 16) & 0xff, (lba >>> 8) & 0xff, lba & 0xff, 0, 0x04, 0, 0],
        {
          read: true,
          edtl: 512 * KIB,
        },
      );
      itts.set(itt, 0x40 + i);
    }
    await new Promise((r) => setTimeout(r, 300));
    // Meanwhile other clients read other regions, many at once.
    for (let round = 0; round < 2; round++) {
      await qemuIo(srv.iscsi, [
        ...Array.from(
          { length: N },
          (_, k) => `aio_read -P ${0x40 + N + k} ${(N + k) * 1024 * KIB} ${512 * KIB}`,
        ),
        'aio_flush',
      ]);
    }
    // Now the slow client reads its answers: each holds its own region's pattern.
    slow.socket.resume();
    const got = new Map<number, Buffer[]>();
    let done = 0;
    while (done < N) {
      const p = await slow.next(10_000);
      assert.ok(p, 'the slow client gets its answers');
      if (p.kind !== 'pdu') continue;
      const op = p.bhs[0]! & 0x3f;
      const itt = p.bhs.readUInt32BE(16);
      if (!itts.has(itt)) continue;
      if (op === 0x25) {
        if (!got.has(itt)) got.set(itt, []);
        got.get(itt)!.push(p.data);
        if (p.bhs[1]! & 0x01) done++;
      } else if (op === 0x21) {
        assert.fail(`READ ${itt} ended with status ${p.bhs[3]}`);
      }
    }
    for (const [itt, pat] of itts) {
      const data = Buffer.concat(got.get(itt)!);
      assert.equal(data.length, 512 * KIB);
      assert.ok(
        data.every((b) => b === pat),
        `READ of region ${pat - 0x40} holds its own bytes`,
      );
    }
    slow.socket.destroy();
    srv.proc.kill('SIGTERM');
    assert.equal(await srv.exited, 0, srv.stderr());
  });
});
