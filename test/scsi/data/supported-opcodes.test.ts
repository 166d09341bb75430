/** REPORT SUPPORTED OPERATION CODES data (SPC-4 §6.35): golden bytes and round trips. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeAllCommands,
  decodeOneCommand,
  encodeAllCommands,
  encodeOneCommand,
  Support,
} from '../../../src/scsi/data/supported-opcodes.js';

test('all commands, with and without timeouts (golden)', () => {
  const ds = [
    { opcode: 0x28, cdbLength: 10 },
    { opcode: 0x9e, serviceAction: 0x10, cdbLength: 16, timeouts: { nominal: 1, recommended: 30 } },
  ];
  const b = encodeAllCommands(ds);
  assert.equal(
    b.toString('hex'),
    '0000001c' +
      '28000000' +
      '0000000a' +
      '9e000010' +
      '0003' +
      '0010' +
      '000a0000' +
      '00000001' +
      '0000001e',
  );
  assert.deepEqual(decodeAllCommands(b), ds);
});

test('one command (golden), not supported', () => {
  const one = {
    support: Support.STANDARD,
    usage: [0x12, 0x01, 0xff, 0xff, 0xff, 0x00],
    timeouts: { nominal: 0, recommended: 10 },
  };
  const b = encodeOneCommand(one);
  assert.equal(b.toString('hex'), '0083' + '0006' + '1201ffffff00' + '000a0000' + '00000000' + '0000000a');
  assert.deepEqual(decodeOneCommand(b), one);
  assert.deepEqual(decodeOneCommand(encodeOneCommand({ support: Support.NOT_SUPPORTED, usage: [] })), {
    support: 1,
    usage: [],
  });
  assert.throws(() => decodeOneCommand(Buffer.from('00030010', 'hex')), /truncated/);
});
