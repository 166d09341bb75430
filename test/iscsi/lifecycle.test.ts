/**
 * Liveness and lifecycle: the target pings an idle initiator (NOP-In asking for an answer) and
 * drops one that does not answer; the server drains with commands in flight (Async Message
 * "logout requested", the command finishes, the session logs out, close resolves); an initiator
 * that vanishes in the middle of a write leaves nothing allocated and the core sees the nexus
 * loss.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeAsyncMessage,
  decodeLogoutResponse,
  decodeNopIn,
  decodeR2t,
  decodeScsiResponse,
  encodeLogoutRequest,
  encodeNopOut,
  OP,
} from '../../src/iscsi/index.js';
import { pooledWriteBytes } from '../../src/block/index.js';
import { RawInitiator, serveIscsi, until } from './helpers.js';

test('NOP-In pings an idle initiator; answering keeps it, silence drops it', async () => {
  const { port, server } = await serveIscsi({}, { timers: { nopIntervalMs: 200, nopTimeoutMs: 1500 } });
  const good = await RawInitiator.connect(port);
  await good.login([], { isid: 1 });
  const quiet = await RawInitiator.connect(port);
  await quiet.login([], { isid: 2 });
  for (let i = 0; i < 3; i++) {
    const p = decodeNopIn((await good.expect(OP.NOP_IN, 2000)).bhs);
    assert.equal(p.itt, 0xffffffff);
    assert.notEqual(p.ttt, 0xffffffff);
    good.send(
      encodeNopOut({
        immediate: true,
        dataSegmentLength: 0,
        lun: 0n,
        itt: 0xffffffff,
        ttt: p.ttt,
        cmdSN: good.cmdSN,
        expStatSN: good.expStatSN,
      }),
    );
  }
  assert.ok(await quiet.closedWithin(6000), 'the initiator that never answers is dropped');
  assert.equal(good.ended, false);
  assert.equal(server.sessionCount, 1);
  // The initiator's own ping is answered with its data.
  good.send(
    encodeNopOut({
      immediate: true,
      dataSegmentLength: 4,
      lun: 0n,
      itt: 77,
      ttt: 0xffffffff,
      cmdSN: good.cmdSN,
      expStatSN: good.expStatSN,
    }),
    Buffer.from('ping'),
  );
  for (;;) {
    const r = await good.expect(OP.NOP_IN);
    if (decodeNopIn(r.bhs).itt !== 77) continue; // a target ping in between
    assert.equal(r.data.toString(), 'ping');
    break;
  }
});

test('shutdown with a command in flight: Async logout request, the command completes, then close', async () => {
  const { port, server, router } = await serveIscsi();
  const c = await RawInitiator.connect(port);
  await c.login();
  const itt = c.command([0xc0, 0, 0, 0, 0, 0]);
  await until(() => router.waiting === 1);
  let closed = false;
  const closing = server.close(3000).then(() => (closed = true));
  const a = decodeAsyncMessage((await c.expect(OP.ASYNC_MESSAGE)).bhs);
  assert.equal(a.asyncEvent, 1);
  assert.equal(a.parameter3, 3);
  // New connections are refused while draining.
  await assert.rejects(RawInitiator.connect(port).then((x) => x.login()));
  router.releaseSlow();
  const r = decodeScsiResponse((await c.expect(OP.SCSI_RESPONSE)).bhs);
  assert.equal(r.itt, itt);
  assert.equal(closed, false);
  c.send(
    encodeLogoutRequest({
      immediate: true,
      reason: 0,
      dataSegmentLength: 0,
      itt: 99,
      cid: 0,
      cmdSN: c.cmdSN,
      expStatSN: c.expStatSN,
    }),
  );
  assert.equal(decodeLogoutResponse((await c.expect(OP.LOGOUT_RESPONSE)).bhs).response, 0);
  await closing;
  assert.equal(router.running, 0);
});

test('shutdown drops a session that does not log out after the grace period', async () => {
  const { port, server } = await serveIscsi({}, { timers: { closeGraceMs: 200 } });
  const c = await RawInitiator.connect(port);
  await c.login();
  const t0 = Date.now();
  await server.close(1000);
  assert.ok(Date.now() - t0 >= 900);
  assert.ok(await c.closedWithin(1000));
});

test('an initiator that vanishes mid-write leaves nothing allocated; the core sees the nexus loss', async () => {
  const { port, server, router } = await serveIscsi();
  const c = await RawInitiator.connect(port);
  await c.login([
    ['ImmediateData', 'No'],
    ['InitialR2T', 'Yes'],
    ['MaxBurstLength', '65536'],
  ]);
  const itt = c.command([0x2a, 0, 0, 0, 0, 0, 0, 0x04, 0, 0], { write: true, edtl: 512 * 1024 });
  const r2t = decodeR2t((await c.expect(OP.R2T)).bhs);
  c.dataOut(itt, r2t.ttt, 0, Buffer.alloc(4096), { final: false });
  // A slow command is running in the core too.
  c.command([0xc0, 0, 0, 0, 0, 0]);
  await until(() => router.waiting === 1);
  await until(() => server.stats()[0]?.heldBytes === 512 * 1024, 2000, 'the write buffer');
  assert.equal(server.stats()[0]!.tasks, 2);
  const pooled = pooledWriteBytes();
  c.socket.destroy();
  await until(() => server.stats().length === 0, 3000, 'the connection to go');
  assert.equal(router.lost.length, 1);
  assert.equal(router.waiting, 0, 'the nexus loss ended the running command');
  assert.equal(server.sessionCount, 0);
  assert.equal(pooledWriteBytes(), pooled + 512 * 1024, 'the write buffer went back to the pool');
});

test('many large writes at once hold at most their first bursts beyond the held-bytes budget', async () => {
  const { port, server, router } = await serveIscsi({}, { maxHeldBytes: 1024 * 1024 });
  const c = await RawInitiator.connect(port);
  await c.login([
    ['ImmediateData', 'Yes'],
    ['InitialR2T', 'Yes'],
    ['MaxBurstLength', '1048576'],
  ]);
  const n = 8;
  const size = 1024 * 1024;
  const first = 64 * 1024;
  const itts: number[] = [];
  for (let i = 0; i < n; i++) {
    const lba = i * 2048;
    itts.push(
      c.command([0x2a, 0, (lba >> 24) & 255, (lba >> 16) & 255, (lba >> 8) & 255, lba & 255, 0, 0x08, 0, 0], {
        write: true,
        edtl: size,
        data: Buffer.alloc(first, i + 1),
      }),
    );
  }
  let maxHeld = 0;
  let done = 0;
  while (done < n) {
    const p = await c.next(5000);
    assert.ok(p && p.kind === 'pdu');
    maxHeld = Math.max(maxHeld, server.stats()[0]!.heldBytes);
    const op = p.bhs[0]! & 0x3f;
    if (op === OP.R2T) {
      const r = decodeR2t(p.bhs);
      const i = itts.indexOf(r.itt);
      // In pieces of at most our MaxRecvDataSegmentLength (256 KiB).
      const len = r.desiredDataTransferLength;
      for (let off = 0, sn = 0; off < len; off += 262144, sn++) {
        const piece = Math.min(262144, len - off);
        c.dataOut(r.itt, r.ttt, r.bufferOffset + off, Buffer.alloc(piece, i + 1), {
          final: off + piece >= len,
          dataSN: sn,
        });
      }
    } else {
      assert.equal(op, OP.SCSI_RESPONSE);
      assert.equal(decodeScsiResponse(p.bhs).status, 0);
      done++;
    }
  }
  assert.ok(maxHeld <= 1024 * 1024 + n * first, `held ${maxHeld} bytes`);
  for (let i = 0; i < n; i++) assert.equal(router.disk[i * size + size - 1] ?? i + 1, i + 1);
  assert.equal(server.stats()[0]!.heldBytes, 0);
});

test('large reads beyond the budget wait for their turn to the core, one at a time', async () => {
  const { port, server, router } = await serveIscsi({}, { maxHeldBytes: 1024 * 1024 });
  const c = await RawInitiator.connect(port);
  await c.login();
  for (let i = 0; i < 3; i++) c.command([0xc0, 0, 0, 0, 0, 0], { read: true, edtl: 1024 * 1024 });
  c.command([0, 0, 0, 0, 0, 0]); // a command without data is not held back
  await c.expect(OP.SCSI_RESPONSE);
  for (let i = 0; i < 3; i++) {
    await until(() => router.waiting === 1, 2000, `read ${i} in the core`);
    assert.equal(server.stats()[0]!.readBytes, 1024 * 1024);
    router.releaseSlow();
    await c.expect(OP.SCSI_RESPONSE);
  }
  assert.equal(server.stats()[0]!.readBytes, 0);
});
