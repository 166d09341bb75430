/**
 * What a connection needs from its server (ConnectionContext: the login's target lookup, session
 * registry calls, SendTargets, caps, timers and the log), and what it reports (ConnectionStats).
 */
import type { BusyPoll } from '../util/index.js';
import type { Connection } from './connection.js';
import type { LoginContext, LoginResult } from './login.js';
import type { Session } from './session.js';
import type { IscsiTarget } from './target.js';
import type { TextPairs } from './text-keys.js';

export interface ConnectionTimers {
  loginTimeoutMs: number;
  nopIntervalMs: number;
  nopTimeoutMs: number;
  closeGraceMs: number;
}

export interface ConnectionContext extends LoginContext, ConnectionTimers {
  /** Creates or joins the session of a finished login (TSIH, reinstatement). Throws LoginError. */
  establish(result: LoginResult, conn: Connection): Session;
  /** The session's connection ended. */
  ended(session: Session, conn: Connection): void;
  /** The other connections whose sessions are logged in to `target`. */
  peers(target: IscsiTarget, conn: Connection): Connection[];
  sendTargets(value: string, initiatorName: string, session: Session, localAddress: string): TextPairs;
  maxCommandBytes: number;
  maxHeldBytes: number;
  maxQueuedBytes: number;
  shuttingDown(): boolean;
  log(message: string): void;
  /** The server's event-loop polling (util/busy-poll.ts), told of every PDU in and out. */
  poll?: BusyPoll;
  /** The socket's TCP congestion control, where known (block/tcp-congestion.ts). */
  tcpCongestion?: string;
}

export type Phase = 'login' | 'full' | 'closing' | 'closed';

export interface ConnectionStats {
  phase: Phase;
  initiator: string | undefined;
  target: string | undefined;
  tsih: number | undefined;
  /** Commands held by the transport (collecting data, waiting, or running in the core). */
  tasks: number;
  running: number;
  /** Write buffers allocated. */
  heldBytes: number;
  /** Expected lengths of the reads running in the core. */
  readBytes: number;
  queuedBytes: number;
  bufferedInputBytes: number;
  /** The socket's TCP congestion control; undefined where it cannot be known. */
  tcpCongestion: string | undefined;
}
