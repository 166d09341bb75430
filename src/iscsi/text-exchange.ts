/**
 * Text Request / Text Response in full feature phase (RFC 7143 §11.10-§11.11, §6.2-§6.3).
 *
 * A request's text may span PDUs (C bit; gathered up to MAX_TEXT_BYTES). A response longer than
 * the initiator's MaxRecvDataSegmentLength goes out in parts: each part but the last has C=1,
 * F=0 and a Target Transfer Tag, and the initiator asks for the next part with an empty Text
 * Request carrying that tag (§11.10.4-§11.10.5). A new request (TTT 0xffffffff) abandons what was
 * left of an earlier response.
 *
 * Keys: SendTargets (send-targets.ts); MaxRecvDataSegmentLength, which may be declared again in
 * full feature phase (§13.12); anything negotiable only at login is answered Reject; unknown keys
 * NotUnderstood.
 */
import { RESERVED_TAG } from './constants.js';
import { OPERATIONAL_KEYS } from './operational-keys.js';
import {
  decodeTextPairs,
  encodeTextPairs,
  MAX_TEXT_BYTES,
  parseNumber,
  TextFormatError,
  type TextPairs,
} from './text-keys.js';
import type { TextRequestPdu } from './text-request.js';

export interface TextAnswerContext {
  sendTargets(value: string): TextPairs;
  setMaxXmitDataSegmentLength(v: number): void;
}

export interface TextReply {
  final: boolean;
  ttt: number;
  data: Buffer;
}

export class TextExchange {
  private gathering: Buffer[] = [];
  private gatheredBytes = 0;
  private rest: { ttt: number; itt: number; data: Buffer } | undefined;
  private nextTtt = 0x40000000;

  /** Answers one Text Request (a C-bit part is answered with an empty, non-final response). */
  handle(req: TextRequestPdu, data: Buffer, ctx: TextAnswerContext, maxSegment: number): TextReply {
    if (req.ttt !== RESERVED_TAG) {
      // The initiator asks for the next part of a long response.
      if (!this.rest || this.rest.ttt !== req.ttt || this.rest.itt !== req.itt) {
        throw new TextFormatError(`Text Request with unknown TTT 0x${req.ttt.toString(16)}`);
      }
      return this.part(this.rest.data, req.itt, maxSegment);
    }
    this.rest = undefined;
    this.gatheredBytes += data.length;
    if (this.gatheredBytes > MAX_TEXT_BYTES) {
      this.gathering = [];
      this.gatheredBytes = 0;
      throw new TextFormatError(`more than ${MAX_TEXT_BYTES} bytes of text`);
    }
    this.gathering.push(data);
    if (req.continue) return { final: false, ttt: RESERVED_TAG, data: Buffer.alloc(0) };
    const text = Buffer.concat(this.gathering);
    this.gathering = [];
    this.gatheredBytes = 0;
    const answers: TextPairs = [];
    for (const [k, v] of decodeTextPairs(text)) {
      if (k === 'SendTargets') answers.push(...ctx.sendTargets(v));
      else if (k === 'MaxRecvDataSegmentLength') {
        const n = parseNumber(v);
        if (n === undefined || n < 512 || n > 16777215) answers.push([k, 'Reject']);
        else ctx.setMaxXmitDataSegmentLength(n);
      } else if (OPERATIONAL_KEYS.has(k) || LOGIN_ONLY.has(k)) answers.push([k, 'Reject']);
      else answers.push([k, 'NotUnderstood']);
    }
    return this.part(encodeTextPairs(answers), req.itt, maxSegment);
  }

  private part(all: Buffer, itt: number, maxSegment: number): TextReply {
    if (all.length <= maxSegment) {
      this.rest = undefined;
      return { final: true, ttt: RESERVED_TAG, data: all };
    }
    const ttt = this.tag();
    this.rest = { ttt, itt, data: all.subarray(maxSegment) };
    return { final: false, ttt, data: all.subarray(0, maxSegment) };
  }

  private tag(): number {
    this.nextTtt = this.nextTtt >= 0x4fffffff ? 0x40000000 : this.nextTtt + 1;
    return this.nextTtt;
  }
}

const LOGIN_ONLY = new Set([
  'InitiatorName',
  'TargetName',
  'SessionType',
  'AuthMethod',
  'TargetPortalGroupTag',
]);
