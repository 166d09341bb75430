/**
 * The CmdSN window (serial arithmetic across 2^32, gaps, duplicates, immediate commands, MaxCmdSN
 * never shrinking) and Text exchanges (a response longer than the initiator's
 * MaxRecvDataSegmentLength in C-bit parts fetched by TTT; keys answered in full feature phase).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CommandWindow,
  decodeTextPairs,
  encodeTextPairs,
  RESERVED_TAG,
  snLess,
  TextExchange,
  type TextRequestPdu,
} from '../../src/iscsi/index.js';

test('serial number arithmetic wraps at 2^32', () => {
  assert.ok(snLess(0xfffffffe, 1));
  assert.ok(!snLess(1, 0xfffffffe));
  assert.ok(snLess(5, 6));
  assert.ok(!snLess(6, 6));
});

test('window: in-order delivery across a gap, duplicates and out-of-window commands ignored', () => {
  const w = new CommandWindow(0xfffffffe, 4);
  const ran: number[] = [];
  const take = (sn: number, imm = false): boolean => w.take(sn, imm, () => ran.push(sn));
  assert.equal(take(0xffffffff), true); // ahead of the gap: waits
  assert.deepEqual(ran, []);
  assert.equal(take(0xffffffff), false); // duplicate
  assert.equal(take(0xfffffffe), true);
  assert.deepEqual(ran, [0xfffffffe, 0xffffffff]);
  assert.equal(w.expCmdSN, 0);
  assert.equal(take(0xfffffffd), false); // below ExpCmdSN
  assert.equal(take(5), false); // above MaxCmdSN (0xfffffffe + 3 = 1)
  assert.equal(take(77, true), true); // immediate: runs now, no advance
  assert.equal(w.expCmdSN, 0);
  w.active = 4;
  const max = w.currentMax();
  w.active = 0;
  assert.ok(!snLess(w.currentMax(), max), 'MaxCmdSN never decreases');
});

function textReq(o: Partial<TextRequestPdu>): TextRequestPdu {
  return {
    immediate: true,
    final: true,
    continue: false,
    dataSegmentLength: 0,
    lun: 0n,
    itt: 1,
    ttt: RESERVED_TAG,
    cmdSN: 1,
    expStatSN: 1,
    ...o,
  };
}

test('text: a long SendTargets answer goes out in parts the initiator fetches by TTT', () => {
  const x = new TextExchange();
  const targets = Array.from({ length: 40 }, (_, i) => [
    ['TargetName', `iqn.2026-11.io.vdisk:target-number-${i}`] as [string, string],
    ['TargetAddress', `192.0.2.1:3260,1`] as [string, string],
  ]).flat();
  let maxSeen = 0;
  const ctx = {
    sendTargets: () => targets,
    setMaxXmitDataSegmentLength: (v: number) => (maxSeen = v),
  };
  const parts: Buffer[] = [];
  let r = x.handle(textReq({}), encodeTextPairs([['SendTargets', 'All']]), ctx, 512);
  parts.push(r.data);
  while (!r.final) {
    assert.notEqual(r.ttt, RESERVED_TAG);
    assert.ok(r.data.length <= 512);
    r = x.handle(textReq({ ttt: r.ttt }), Buffer.alloc(0), ctx, 512);
    parts.push(r.data);
  }
  assert.ok(parts.length > 3);
  assert.deepEqual(decodeTextPairs(Buffer.concat(parts)), targets);
  // Full feature phase keys: MaxRecvDataSegmentLength may change; login-only keys are refused.
  const k = x.handle(
    textReq({}),
    encodeTextPairs([
      ['MaxRecvDataSegmentLength', '65536'],
      ['InitialR2T', 'No'],
      ['X-vendor', '1'],
    ]),
    ctx,
    512,
  );
  assert.equal(maxSeen, 65536);
  assert.deepEqual(decodeTextPairs(k.data), [
    ['InitialR2T', 'Reject'],
    ['X-vendor', 'NotUnderstood'],
  ]);
  assert.throws(() => x.handle(textReq({ ttt: 1234 }), Buffer.alloc(0), ctx, 512), /unknown TTT/);
});
