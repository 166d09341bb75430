/**
 * Wire structures of persistent reservations: golden bytes laid out from SPC-4's tables, round
 * trips, truncation and length caps.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PrCodecError } from '../../../src/scsi/reservations/codec-error.js';
import {
  decodeTransportId,
  encodeTransportId,
  MAX_TRANSPORT_ID_LENGTH,
  parseInitiatorPort,
} from '../../../src/scsi/reservations/transport-id.js';
import { decodeReadKeys, encodeReadKeys } from '../../../src/scsi/reservations/data/read-keys.js';
import {
  decodeReadReservation,
  encodeReadReservation,
} from '../../../src/scsi/reservations/data/read-reservation.js';
import {
  decodeReportCapabilities,
  encodeReportCapabilities,
} from '../../../src/scsi/reservations/data/report-capabilities.js';
import { decodeFullStatus, encodeFullStatus } from '../../../src/scsi/reservations/data/read-full-status.js';
import {
  decodeProutParameters,
  encodeProutParameters,
} from '../../../src/scsi/reservations/data/prout-parameters.js';
import {
  decodeRegisterAndMove,
  encodeRegisterAndMove,
} from '../../../src/scsi/reservations/data/register-and-move-parameters.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const ascii = (s: string): Buffer => Buffer.from(s, 'latin1');

const NAME = 'iqn.2026-11.io.vdisk:a'; // 22 bytes
const PORT = { format: 'port', name: NAME, isid: '23d000001234' } as const;
// SPC-4 Table 391: FORMAT CODE 01b | PROTOCOL IDENTIFIER 5h, reserved, ADDITIONAL LENGTH 40
// (22 + 5 + 12 + NUL = 40, already a multiple of 4), name, ",i,0x", ISID, NUL.
const PORT_TID = Buffer.concat([hex('45 00 0028'), ascii(`${NAME},i,0x23d000001234\0`)]);
// Table 390: format 00b, ADDITIONAL LENGTH 24 (22 + NUL = 23, padded to 24).
const DEVICE_TID = Buffer.concat([hex('05 00 0018'), ascii(`${NAME}\0\0`)]);

test('iSCSI TransportID: golden bytes of both formats, padding and round trip', () => {
  assert.deepEqual(encodeTransportId(PORT), PORT_TID);
  assert.deepEqual(encodeTransportId({ format: 'device', name: NAME }), DEVICE_TID);
  assert.deepEqual(decodeTransportId(PORT_TID), { id: PORT, length: 44 });
  assert.deepEqual(decodeTransportId(DEVICE_TID), { id: { format: 'device', name: NAME }, length: 28 });
  // Short names still make the 24-byte minimum; every length is a multiple of four.
  for (let n = 1; n < 60; n++) {
    const id = { format: 'device', name: 'x'.repeat(n) } as const;
    const b = encodeTransportId(id);
    assert.ok(b.length >= 24 && b.length % 4 === 0, `length ${b.length} for a ${n}-byte name`);
    assert.deepEqual(decodeTransportId(b).id, id);
  }
  // Names compare case-folded; ISIDs as 12 lowercase digits.
  const upper = Buffer.concat([hex('45 00 0028'), ascii(`IQN.2026-11.IO.VDISK:A,i,0x23D000001234\0`)]);
  assert.deepEqual(decodeTransportId(upper).id, PORT);
  assert.deepEqual(parseInitiatorPort(`${NAME},i,0x23d000001234`), PORT);
  assert.deepEqual(parseInitiatorPort(NAME), { format: 'device', name: NAME });
});

test('iSCSI TransportID: bad input is a PrCodecError naming the byte, never a crash', () => {
  const err = (b: Buffer, kind: string, byte: number) =>
    assert.throws(
      () => decodeTransportId(b),
      (e) => e instanceof PrCodecError && e.kind === kind && e.byte === byte,
    );
  err(hex('45 00'), 'length', 0);
  err(Buffer.concat([hex('41 00 0014'), Buffer.alloc(20)]), 'field', 0); // protocol 1 (SPI)
  err(Buffer.concat([hex('85 00 0014'), Buffer.alloc(20)]), 'field', 0); // format 10b
  err(PORT_TID.subarray(0, 30), 'length', 2); // truncated
  err(Buffer.concat([hex('05 00 0100'), Buffer.alloc(256)]), 'field', 2); // over the cap
  err(Buffer.concat([hex('45 00 0018'), ascii(`${NAME}\0\0`)]), 'field', 4); // format 01b without ISID
  err(Buffer.concat([hex('45 00 0020'), ascii(`${NAME},i,0x12\0\0\0\0\0`)]), 'field', 31); // short ISID
  err(Buffer.concat([hex('05 00 0014'), Buffer.alloc(20)]), 'field', 4); // empty name
  assert.ok(MAX_TRANSPORT_ID_LENGTH <= 256);
});

test('READ KEYS: golden bytes, truncation keeps ADDITIONAL LENGTH', () => {
  const golden = hex('0000 0007  0000 0010  0123456789abcdef  fedcba9876543210');
  const d = { generation: 7, keys: [0x0123456789abcdefn, 0xfedcba9876543210n] };
  assert.deepEqual(encodeReadKeys(d), golden);
  assert.deepEqual(decodeReadKeys(golden), { ...d, additionalLength: 16 });
  assert.deepEqual(decodeReadKeys(golden.subarray(0, 20)), {
    generation: 7,
    keys: [d.keys[0]],
    additionalLength: 16,
  });
  assert.deepEqual(encodeReadKeys({ generation: 0, keys: [] }), Buffer.alloc(8));
});

test('READ RESERVATION: golden bytes without and with a reservation', () => {
  assert.deepEqual(encodeReadReservation({ generation: 3 }), hex('00000003 00000000'));
  const golden = hex('00000003 00000010 00000000000000aa 00000000 00 05 0000');
  const d = { generation: 3, reservation: { key: 0xaan, scope: 0, type: 'WE_RO' as const } };
  assert.deepEqual(encodeReadReservation(d), golden);
  assert.deepEqual(decodeReadReservation(golden), d);
  const bad = Buffer.from(golden);
  bad[21] = 0x02; // obsolete TYPE
  assert.throws(() => decodeReadReservation(bad), PrCodecError);
});

test('REPORT CAPABILITIES: golden bytes of what vdisk reports, every type bit', () => {
  const d = {
    rlrC: false,
    crh: true,
    sipC: true,
    atpC: true,
    ptplC: true,
    tmv: true,
    allowCommands: 2,
    ptplA: true,
    types: ['WE', 'EA', 'WE_RO', 'EA_RO', 'WE_AR', 'EA_AR'] as const,
  };
  // LENGTH 8; CRH|SIP_C|ATP_C|PTPL_C = 1Dh; TMV | ALLOW COMMANDS 010b | PTPL_A = A1h; mask EAh 01h.
  const golden = hex('0008 1d a1 ea 01 0000');
  assert.deepEqual(encodeReportCapabilities({ ...d, types: [...d.types] }), golden);
  const back = decodeReportCapabilities(golden);
  assert.deepEqual(new Set(back.types), new Set(d.types));
  assert.equal(back.allowCommands, 2);
  for (const t of d.types) {
    const one = encodeReportCapabilities({ ...d, types: [t] });
    assert.deepEqual(decodeReportCapabilities(one).types, [t]);
  }
});

test('READ FULL STATUS: golden descriptor, holder and ALL_TG_PT bits, clipped data', () => {
  const desc = Buffer.concat([
    hex('00000000000000aa 00000000 01 06 00000000 0001 0000002c'), // key, R_HOLDER, EA_RO, RTPI 1, TID 44
    PORT_TID,
  ]);
  const golden = Buffer.concat([hex('00000009 00000044'), desc]);
  const d = {
    generation: 9,
    descriptors: [
      {
        key: 0xaan,
        allTgPt: false,
        holder: true,
        reservation: { scope: 0, type: 'EA_RO' as const },
        relativeTargetPortId: 1,
        transportId: PORT,
      },
    ],
  };
  assert.deepEqual(encodeFullStatus(d), golden);
  assert.deepEqual(decodeFullStatus(golden), { ...d, additionalLength: 68 });
  const two = encodeFullStatus({
    generation: 1,
    descriptors: [
      { ...d.descriptors[0]!, holder: false, allTgPt: true, reservation: undefined as never },
      { ...d.descriptors[0]!, key: 1n, transportId: { format: 'device', name: NAME } },
    ],
  });
  assert.equal(two[8 + 12], 0x02, 'ALL_TG_PT without R_HOLDER');
  assert.equal(two[8 + 13], 0x00, 'SCOPE/TYPE zero when not a holder');
  const full = decodeFullStatus(two);
  assert.equal(full.descriptors.length, 2);
  // An allocation length that cuts the second descriptor yields the first only.
  assert.equal(decodeFullStatus(two.subarray(0, two.length - 3)).descriptors.length, 1);
});

test('PROUT basic parameter list: golden bytes, SPEC_I_PT list, length rules', () => {
  const golden = hex('0000000000000001 0000000000000002 00000000 0d 00 0000');
  const p = { key: 1n, serviceActionKey: 2n, specIPt: false, allTgPt: true, aptpl: true };
  assert.deepEqual(
    encodeProutParameters({ ...p, aptpl: true }),
    hex('0000000000000001 0000000000000002 00000000 05 00 0000'),
  );
  const spec = encodeProutParameters({
    ...p,
    specIPt: true,
    transportIds: [PORT, { format: 'device', name: NAME }],
  });
  assert.deepEqual(spec.subarray(0, 24), golden);
  assert.equal(spec.readUInt32BE(24), 44 + 28);
  const back = decodeProutParameters(spec);
  assert.deepEqual(
    back.transportIds.map((t) => t.offset),
    [28, 72],
  );
  assert.deepEqual(back.transportIds[0]!.id, PORT);
  assert.deepEqual(decodeProutParameters(encodeProutParameters(p)), { ...p, transportIds: [] });
  const length = (b: Buffer) =>
    assert.throws(
      () => decodeProutParameters(b),
      (e) => e instanceof PrCodecError && e.kind === 'length',
    );
  length(Buffer.alloc(23));
  length(Buffer.alloc(25)); // SPEC_I_PT = 0 needs exactly 24
  length(spec.subarray(0, spec.length - 4)); // list shorter than its TRANSPORTID PARAMETER DATA LENGTH
  const cut = Buffer.from(spec);
  cut.writeUInt32BE(44 + 20, 24); // a TransportID cut by the declared length
  length(cut.subarray(0, 28 + 64));
  // A TransportID error points into the parameter list.
  const badTid = Buffer.from(spec);
  badTid[72] = 0x41;
  assert.throws(
    () => decodeProutParameters(badTid),
    (e) => e instanceof PrCodecError && e.kind === 'field' && e.byte === 72,
  );
});

test('REGISTER AND MOVE parameter list: golden bytes and length rules', () => {
  const p = {
    key: 0x10n,
    serviceActionKey: 0x20n,
    unreg: true,
    aptpl: false,
    relativeTargetPortId: 2,
    transportId: PORT,
  };
  const golden = Buffer.concat([hex('0000000000000010 0000000000000020 00 02 0002 0000002c'), PORT_TID]);
  assert.deepEqual(encodeRegisterAndMove(p), golden);
  assert.deepEqual(decodeRegisterAndMove(golden), p);
  assert.throws(
    () => decodeRegisterAndMove(golden.subarray(0, 40)),
    (e) => e instanceof PrCodecError && e.kind === 'length',
  );
  assert.throws(() => decodeRegisterAndMove(Buffer.concat([golden, Buffer.alloc(4)])), PrCodecError);
  assert.throws(() => decodeRegisterAndMove(Buffer.alloc(10)), PrCodecError);
});
