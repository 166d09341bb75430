/**
 * CHECK CONDITION responses: the one place that turns a failure into status + sense data.
 * A BlockError is translated by `senseFromBlockError`; anything that is neither a ScsiError nor
 * a BlockError is a bug and is reported as HARDWARE ERROR / INTERNAL TARGET FAILURE, never as
 * NO SENSE.
 */
import { senseFromBlockError, ScsiError } from './errors.js';
import { encodeSense } from './sense.js';
import { ScsiStatus, type ScsiResponse } from './task.js';

export function senseBytes(err: ScsiError, descriptor: boolean): Buffer {
  return encodeSense({
    format: descriptor ? 'descriptor' : 'fixed',
    current: true,
    key: err.key,
    asc: err.asc,
    ...(err.information !== undefined ? { information: err.information } : {}),
    ...(err.senseKeySpecific !== undefined ? { senseKeySpecific: err.senseKeySpecific } : {}),
  });
}

export function checkConditionFor(err: unknown, descriptor: boolean, transferLength: number): ScsiResponse {
  const e = err instanceof ScsiError ? err : senseFromBlockError(err, 'write');
  return { status: ScsiStatus.CHECK_CONDITION, sense: senseBytes(e, descriptor), transferLength };
}
