/** The `vdisk:scsi:command` diagnostics channel: one event per completed command. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import diagnostics from 'node:diagnostics_channel';
import { ASC, COMMAND_CHANNEL, SenseKey, type ScsiCommandEvent } from '../../src/scsi/index.js';
import { cdb10, ready, run, TARGET } from './helpers.js';

test('completed commands are published with name, status, sense and duration', async () => {
  const f = await ready();
  const events: ScsiCommandEvent[] = [];
  const listener = (m: unknown) => events.push(m as ScsiCommandEvent);
  diagnostics.subscribe(COMMAND_CHANNEL, listener);
  try {
    await run(f.target, cdb10(0x2a, 0, 1), { dataOut: Buffer.alloc(512) });
    await run(f.target, cdb10(0x28, 40000, 1));
  } finally {
    diagnostics.unsubscribe(COMMAND_CHANNEL, listener);
  }
  assert.equal(events.length, 2);
  const [w, r] = events;
  assert.deepEqual(
    {
      target: w!.target,
      lun: w!.lun,
      command: w!.command,
      status: w!.status,
      bytes: w!.bytes,
      aborted: w!.aborted,
    },
    { target: TARGET, lun: 0, command: 'WRITE (10)', status: 0, bytes: 512, aborted: false },
  );
  assert.ok(w!.durationNs > 0n);
  assert.equal(r!.senseKey, SenseKey.ILLEGAL_REQUEST);
  assert.equal(r!.asc, ASC.LBA_OUT_OF_RANGE);
  // Nothing is published without subscribers.
  await run(f.target, cdb10(0x28, 0, 1));
  assert.equal(events.length, 2);
});
