/**
 * One client connection: moves bytes between the socket and the two phases of the protocol.
 *
 *     negotiating --GO/EXPORT_NAME--> transmission --DISC/EOF/shutdown--> draining --> closed
 *          |  \--STARTTLS--> (TLS handshake) --> negotiating                              ^
 *          +--ABORT/bad input/timeout-------------------------------------------------------+
 *
 * Negotiation: option-parser.ts cuts the input into options, negotiation.ts answers them. The
 * negotiation must finish within `handshakeTimeoutMs`.
 *
 * Transmission: request-parser.ts cuts the input into requests, validate.ts checks each one at
 * the edge, and commands.ts runs it. Many requests are in flight at once and their replies go out
 * in the order they complete. Replies completed in one turn of the event loop are written
 * together: the socket is corked on the first and uncorked in setImmediate, so they leave in one
 * writev.
 *
 * Input: a plain TCP socket is read into buffers of our own (util/socket-input.ts): small requests
 * through a staging slab, the rest of a large write payload straight into its buffer. A socket
 * that may become TLS, or a Node without user-buffer reads, is read through 'data' events.
 *
 * Sending from the file: a large read of a range that is all data in one run of a buffered host
 * file on tmpfs (a raw image with no holes; BlockDevice.readSource) is not read at all: its reply
 * header and data go from the file to the socket with sendfile(2) (block/file-sender.ts), which
 * copies nothing in the server. Node's own writer and the file sender take turns on the socket:
 * a reply from the file waits until Node's writer has nothing queued, and replies that complete
 * while it is being sent are held, in order, until it is out.
 *
 * Bounded memory (the client decides what it sends, never how much we hold):
 * - at most `maxInflightRequests` requests and `maxInflightBytes` bytes of read and write data in
 *   flight; past either, the connection stops parsing and pauses the socket, so TCP pushes back;
 * - when the client does not read its replies and more than `maxQueuedReplyBytes` wait in the
 *   socket (or are held, or still to be sent from the file), the connection stops taking
 *   requests until the socket drains;
 * - the parsers buffer at most one request's payload (capped by the export's maximum block size)
 *   plus what the socket delivered before it was paused.
 *
 * A connection's `closed` promise settles only when its in-flight device operations have
 * finished, even if the socket died first, so that the server can drain before the devices close.
 */
import type net from 'node:net';
import { readSocket, type BusyPoll, type InputReader } from '../util/index.js';
import {
  FileSender,
  returnWriteBuffer,
  socketFd,
  type HostReadSource,
  type SendOutcome,
} from '../block/index.js';
import { NBD_CMD, NBD_ERRNO } from './constants.js';
import { errorReply, fileReadHeader, releaseOfReply, runCommand, SEND_FROM_FILE_MIN } from './commands.js';
import { NbdProtocolError } from './errors.js';
import type { ExportTable } from './export.js';
import { encodeGreeting } from './greeting.js';
import { HANDSHAKE_FLAGS, Negotiation, type Session } from './negotiation.js';
import { OptionParser } from './option-parser.js';
import { RequestParser, type ParsedRequest } from './request-parser.js';
import type { RequestHeader } from './request.js';
import { validateRequest } from './validate.js';

export interface ConnectionLimits {
  maxInflightRequests: number;
  maxInflightBytes: number;
  maxQueuedReplyBytes: number;
  handshakeTimeoutMs: number;
  /** After our side is closed, how long the peer has to close its side before it is cut off. */
  closeGraceMs: number;
}

export const DEFAULT_LIMITS: ConnectionLimits = {
  maxInflightRequests: 64,
  maxInflightBytes: 64 * 1024 * 1024,
  maxQueuedReplyBytes: 16 * 1024 * 1024,
  handshakeTimeoutMs: 10_000,
  closeGraceMs: 5_000,
};

/** What a connection needs from its server. */
export interface ConnectionContext {
  exports: ExportTable;
  limits: ConnectionLimits;
  /** Upgrades the socket to TLS (undefined: no TLS configured). Resolves to the TLS socket. */
  startTls?: (socket: net.Socket) => Promise<net.Socket>;
  shuttingDown: () => boolean;
  log: (message: string) => void;
  /** The server's event-loop polling (util/busy-poll.ts), told of every request and reply. */
  poll?: BusyPoll;
  /** The socket's TCP congestion control, where known (block/tcp-congestion.ts). */
  tcpCongestion?: string;
}

type Phase = 'negotiating' | 'tls' | 'transmission' | 'draining' | 'closed';

/** A read reply sent from the host file (sendfile): its header, then `length` bytes of `source`. */
interface FileReply {
  header: Buffer;
  source: HostReadSource;
  length: number;
}

/** A reply waiting behind one that is sent from the file. */
type HeldReply = FileReply | { bufs: Buffer[]; release: (() => void) | undefined; bytes: number };

const EMPTY = Buffer.alloc(0);

export interface ConnectionStats {
  phase: Phase;
  /** Read replies sent from the file with sendfile(2). */
  sentFromFile: number;
  export: string | undefined;
  inflight: number;
  inflightBytes: number;
  /** Reply bytes handed to the socket and not yet sent. */
  queuedReplyBytes: number;
  /** Received bytes not yet parsed. */
  bufferedInputBytes: number;
  /** The socket's TCP congestion control; undefined on a Unix socket. */
  tcpCongestion: string | undefined;
}

export class Connection {
  private socket: net.Socket;
  private phase: Phase = 'negotiating';
  private readonly negotiation: Negotiation;
  private readonly options = new OptionParser();
  private requests: RequestParser | undefined;
  private session: Session | undefined;
  private inflight = 0;
  private inflightBytes = 0;
  private corked = false;
  private handshakeTimer: NodeJS.Timeout | undefined;
  private closeTimer: NodeJS.Timeout | undefined;
  private resolveClosed!: () => void;
  /** Settles when the socket is gone and no device operation of this connection is running. */
  readonly closed: Promise<void>;
  private socketGone = false;
  /** The socket is read into our buffers (readSocket): a plain socket, no TLS to come. */
  private userBufferReads = false;
  /** Opened on the first reply worth sending from the file; null once it turned out unavailable. */
  private fileSender: FileSender | null | undefined;
  private sentFromFile = 0;
  /** Replies in order behind a reply sent from the file (the first of them may be one, too). */
  private held: HeldReply[] = [];
  /** Bytes of held replies, and of the reply being sent from the file. */
  private heldBytes = 0;
  /** The reply being sent from the file, until the file sender reports it. */
  private fileReply: FileReply | undefined;
  /** Replies from the file not yet sent (held or being sent); each counts in `inflight` too. */
  private fileReplies = 0;
  /** An empty write is queued behind Node's writer, to learn when it has sent everything. */
  private awaitingWriter = false;

  constructor(
    socket: net.Socket,
    private readonly ctx: ConnectionContext,
  ) {
    this.socket = socket;
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    this.negotiation = new Negotiation(ctx.exports, { tls: !!ctx.startTls, shuttingDown: ctx.shuttingDown });
    this.attach(socket);
    this.handshakeTimer = setTimeout(
      () => this.drop(new NbdProtocolError('TIMEOUT', 'the handshake did not finish in time')),
      ctx.limits.handshakeTimeoutMs,
    );
    this.handshakeTimer.unref?.();
    socket.write(encodeGreeting({ handshakeFlags: HANDSHAKE_FLAGS }));
  }

  /** What the connection holds now (for stats and tests). */
  stats(): ConnectionStats {
    return {
      phase: this.phase,
      sentFromFile: this.sentFromFile,
      export: this.session?.export.name,
      inflight: this.inflight,
      inflightBytes: this.inflightBytes,
      queuedReplyBytes: this.queuedReplyBytes(),
      bufferedInputBytes: (this.requests ?? this.options).buffered,
      tcpCongestion: this.ctx.tcpCongestion,
    };
  }

  /** The server is stopping: finish what is in flight, answer the rest with ESHUTDOWN, close. */
  shutdown(): void {
    if (this.phase === 'negotiating' || this.phase === 'tls') {
      this.drop(undefined);
      return;
    }
    if (this.phase === 'transmission') this.pump();
  }

  private attach(s: net.Socket): void {
    this.userBufferReads = !this.ctx.startTls && readSocket(s, this.input);
    if (!this.userBufferReads) s.on('data', this.onData);
    s.on('drain', this.onDrain);
    s.on('end', this.onEnd);
    s.on('error', this.onError);
    s.on('close', this.onClose);
  }

  private detach(s: net.Socket): void {
    s.off('data', this.onData);
    s.off('drain', this.onDrain);
    s.off('end', this.onEnd);
    s.off('error', this.onError);
    s.off('close', this.onClose);
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.phase === 'negotiating') {
      this.options.push(chunk);
      this.negotiate();
    } else if (this.phase === 'transmission' && this.requests) {
      this.requests.push(chunk);
      this.pump();
    }
    // 'tls', 'draining', 'closed': input after STARTTLS, DISC or EOF is not read.
  };

  private readonly input: InputReader = {
    directTarget: () => this.payloadTarget(),
    received: (chunk, n) => {
      this.ctx.poll?.activity();
      if (chunk) {
        this.onData(chunk);
        // The chunk is the reader's staging buffer, overwritten by the next read: a large payload
        // under way moves to its buffer now, anything else queued is copied.
        this.payloadTarget();
        this.options.own();
        this.requests?.own();
      } else if (this.requests?.directReceived(n) && this.phase === 'transmission') {
        this.pump();
      }
    },
  };

  /** Where the rest of a large payload under way goes: its own buffer. */
  private payloadTarget(): Buffer | undefined {
    if (this.phase !== 'transmission' || !this.requests) return undefined;
    return this.requests.directTarget();
  }

  private readonly onDrain = (): void => {
    if (this.phase === 'transmission') this.pump();
    if (this.phase === 'negotiating') {
      this.socket.resume();
      this.negotiate();
    }
  };

  /** The client closed its side: finish the requests in flight, then close ours. */
  private readonly onEnd = (): void => {
    if (this.phase === 'transmission') this.startDraining();
    else if (this.phase !== 'draining') this.drop(undefined);
  };

  private readonly onError = (err: Error): void => {
    this.ctx.log(`connection error: ${err.message}`);
    this.drop(undefined);
  };

  private readonly onClose = (): void => {
    this.socketGone = true;
    this.fileSender?.close();
    this.dropHeld();
    this.phase = 'closed';
    this.clearHandshakeTimer();
    if (this.closeTimer) clearTimeout(this.closeTimer);
    this.settleIfDone();
  };

  private negotiate(): void {
    try {
      for (;;) {
        if (this.phase !== 'negotiating') return;
        // A client that sends options without reading the replies is not answered further
        // until it reads them.
        if (this.socket.writableLength > this.ctx.limits.maxQueuedReplyBytes) {
          this.socket.pause();
          return;
        }
        const input = this.options.next();
        if (!input) return;
        const step = this.negotiation.handle(input);
        for (const r of step.replies) this.socket.write(r);
        switch (step.next) {
          case 'continue':
            break;
          case 'close':
            this.phase = 'draining';
            this.settleIfDone();
            return;
          case 'starttls':
            this.upgrade();
            return;
          case 'transmission':
            this.enterTransmission(step.session);
            return;
        }
      }
    } catch (err) {
      this.drop(err);
    }
  }

  private upgrade(): void {
    // The client waits for our ACK before it starts TLS; bytes queued behind STARTTLS would be
    // plaintext injected into the TLS stream.
    if (this.options.buffered > 0 || !this.ctx.startTls) {
      this.drop(new NbdProtocolError('TLS_FAILED', 'data after NBD_OPT_STARTTLS'));
      return;
    }
    this.phase = 'tls';
    const raw = this.socket;
    this.detach(raw);
    // Keep watching the raw socket until the TLS socket owns it.
    raw.on('error', this.onError);
    raw.on('close', this.onClose);
    this.ctx.startTls(raw).then(
      (tlsSocket) => {
        raw.off('error', this.onError);
        raw.off('close', this.onClose);
        if (this.phase !== 'tls') {
          tlsSocket.destroy();
          return;
        }
        this.socket = tlsSocket;
        this.attach(tlsSocket);
        this.negotiation.tlsStarted();
        this.phase = 'negotiating';
      },
      (err: unknown) => this.drop(new NbdProtocolError('TLS_FAILED', `TLS handshake failed: ${String(err)}`)),
    );
  }

  private enterTransmission(session: Session): void {
    this.clearHandshakeTimer();
    this.session = session;
    this.phase = 'transmission';
    this.requests = new RequestParser({
      maxPayload: session.export.sizes.maximum,
      extended: session.extendedHeaders,
    });
    const rest = this.options.drain();
    if (rest.length) this.requests.push(rest);
    this.pump();
  }

  /**
   * Takes requests off the parser while the limits allow, then sets the socket's flow: paused
   * when a limit is reached, flowing when the connection wants more bytes.
   */
  private pump(): void {
    const parser = this.requests;
    if (!parser || this.phase !== 'transmission') return;
    const lim = this.ctx.limits;
    if (this.ctx.shuttingDown()) {
      // Every complete request still buffered gets ESHUTDOWN; then close once the ones in
      // flight are done ("The error value issued in respect of ... any subsequently received
      // requests SHOULD be NBD_ESHUTDOWN").
      try {
        for (let r = parser.next(); r && this.phase === 'transmission'; r = parser.next()) this.dispatch(r);
      } catch (err) {
        this.drop(err);
        return;
      }
      this.startDraining();
      return;
    }
    try {
      while (
        this.inflight < lim.maxInflightRequests &&
        this.inflightBytes < lim.maxInflightBytes &&
        this.queuedReplyBytes() <= lim.maxQueuedReplyBytes
      ) {
        const r = parser.next();
        if (!r) break;
        this.dispatch(r);
        if (this.phase !== 'transmission') return;
      }
    } catch (err) {
      this.drop(err);
      return;
    }
    const more =
      this.inflight < lim.maxInflightRequests &&
      this.inflightBytes < lim.maxInflightBytes &&
      this.queuedReplyBytes() <= lim.maxQueuedReplyBytes;
    if (more) this.socket.resume();
    else this.socket.pause();
  }

  /** The connection's file sender, opened on first use; null where sendfile is not available. */
  private openFileSender(): FileSender | null {
    if (this.fileSender === undefined) {
      const fd = socketFd(this.socket);
      this.fileSender = (fd !== undefined && FileSender.open(fd)) || null;
    }
    return this.fileSender;
  }

  private dispatch(r: ParsedRequest): void {
    const s = this.session!;
    const h = r.header;
    if (r.kind === 'skipped-payload') {
      const why =
        h.type === NBD_CMD.WRITE
          ? `NBD_CMD_WRITE of ${h.length} bytes exceeds the maximum block size`
          : 'this server takes no payload with NBD_CMD_FLAG_PAYLOAD_LEN';
      this.send(errorReply(h, s, NBD_ERRNO.EINVAL, why));
      return;
    }
    if (h.type === NBD_CMD.DISC) {
      // "The server MUST handle all outstanding requests, shut down the TLS session (if one is
      // running), and close the TCP session."
      this.startDraining();
      return;
    }
    if (this.ctx.shuttingDown()) {
      this.send(errorReply(h, s, NBD_ERRNO.ESHUTDOWN, 'the server is shutting down'));
      return;
    }
    const bad = validateRequest(h, s);
    if (bad) {
      this.send(errorReply(h, s, bad.errno, bad.message));
      return;
    }
    if (h.type === NBD_CMD.READ && h.length >= SEND_FROM_FILE_MIN && this.sendFromFile(h, s)) return;
    this.run(h, r.payload, s, r.pooled === true);
  }

  /**
   * Answers a large read from the host file when the device has its range as one run of data in
   * a file in memory (and the socket is a plain TCP or Unix socket): the reply is queued to be
   * sent from the file.
   * It counts in flight until it is sent, so that draining waits for it.
   */
  private sendFromFile(h: RequestHeader, s: Session): boolean {
    if (!this.userBufferReads || this.fileSender === null) return false;
    const source = s.export.device.readSource?.(h.offset, h.length);
    if (!source) return false;
    if (!this.openFileSender()) {
      source.finish();
      return false;
    }
    this.inflight++;
    this.fileReplies++;
    this.heldBytes += h.length;
    this.held.push({ header: fileReadHeader(h, s), source, length: h.length });
    this.flushHeld();
    return true;
  }

  private run(h: RequestHeader, payload: Buffer | undefined, s: Session, pooled: boolean): void {
    const cost = h.type === NBD_CMD.READ || h.type === NBD_CMD.WRITE ? h.length : 0;
    this.inflight++;
    this.inflightBytes += cost;
    void runCommand(h, payload, s).then((reply) => {
      if (pooled && payload) returnWriteBuffer(payload);
      this.inflight--;
      this.inflightBytes -= cost;
      this.send(reply, releaseOfReply(reply));
      if (this.phase === 'transmission') this.pump();
      else this.settleIfDone();
    });
  }

  /**
   * Queues reply buffers. While other requests are in flight, everything queued in this
   * event-loop turn leaves in one writev; the last reply of a burst (queue depth 1) goes out at
   * once.
   */
  private send(bufs: Buffer[], release?: () => void): void {
    if (this.socketGone || this.socket.destroyed) {
      release?.();
      return;
    }
    if (this.held.length > 0 || this.fileReply) {
      let bytes = 0;
      for (const b of bufs) bytes += b.length;
      this.heldBytes += bytes;
      this.held.push({ bufs, release, bytes });
      return;
    }
    this.write(bufs, release);
  }

  /** Hands reply buffers to Node's writer (see `send`). */
  private write(bufs: Buffer[], release: (() => void) | undefined): void {
    if (!this.corked && (this.inflight > 0 || bufs.length > 1)) {
      this.corked = true;
      this.socket.cork();
      setImmediate(this.uncork);
    }
    this.ctx.poll?.activity();
    const last = bufs.length - 1;
    // Writes complete in order: once the last one is out, a lent read buffer may go back.
    for (let i = 0; i < last; i++) this.socket.write(bufs[i]!);
    if (release) this.socket.write(bufs[last]!, () => release());
    else this.socket.write(bufs[last]!);
  }

  private readonly uncork = (): void => {
    this.corked = false;
    if (!this.socket.destroyed) this.socket.uncork();
  };

  /** Reply bytes on their way out: in Node's writer, held, or still to send from the file. */
  private queuedReplyBytes(): number {
    return this.socket.writableLength + this.heldBytes;
  }

  /**
   * Sends the held replies in order: buffers through Node's writer, a reply from the file once
   * Node's writer is empty (learnt from an empty write's callback when it is not yet), and
   * nothing further while one is being sent.
   */
  private flushHeld(): void {
    while (this.held.length > 0 && !this.fileReply && !this.awaitingWriter) {
      if (this.socketGone || this.socket.destroyed) {
        this.dropHeld();
        return;
      }
      const next = this.held[0]!;
      if ('bufs' in next) {
        this.held.shift();
        this.heldBytes -= next.bytes;
        this.write(next.bufs, next.release);
        continue;
      }
      if (this.corked) this.uncork();
      if (this.socket.writableLength > 0) {
        this.awaitingWriter = true;
        this.socket.write(EMPTY, this.writerEmptied);
        return;
      }
      this.held.shift();
      this.fileReply = next;
      const o = this.fileSender!.send(next.header, next.source, next.length, this.fileSent);
      if (o && !this.fileDone(o)) return;
    }
  }

  private readonly writerEmptied = (): void => {
    this.awaitingWriter = false;
    this.afterReply();
  };

  private readonly fileSent = (o: SendOutcome): void => {
    if (this.fileDone(o)) this.afterReply();
  };

  /** The reply from the file is out (true), or the stream is lost and dropped (false). */
  private fileDone(o: SendOutcome): boolean {
    const r = this.fileReply;
    if (!r) return false;
    this.fileReply = undefined;
    this.heldBytes -= r.length;
    this.inflight--;
    this.fileReplies--;
    if (o.kind === 'lost') {
      this.drop(new NbdProtocolError('REPLY_LOST', o.message));
      return false;
    }
    this.sentFromFile++;
    this.ctx.poll?.activity();
    return true;
  }

  /** Goes on after a held reply went out: the next held ones, then more requests or the close. */
  private afterReply(): void {
    this.flushHeld();
    if (this.phase === 'transmission') this.pump();
    else this.settleIfDone();
  }

  /** The socket is gone: held replies give back what they hold and stop counting in flight. */
  private dropHeld(): void {
    const held = this.held;
    this.held = [];
    this.heldBytes = 0;
    this.awaitingWriter = false;
    if (this.fileReply) {
      // The file sender was closed first, which finished its source.
      this.fileReply = undefined;
      this.inflight--;
      this.fileReplies--;
    }
    for (const r of held) {
      if ('bufs' in r) r.release?.();
      else {
        r.source.finish();
        this.inflight--;
        this.fileReplies--;
      }
    }
  }

  /**
   * No more requests are taken; close once the ones in flight have replied. Input is still read
   * and thrown away, so that a client still sending can finish and see our end of the stream
   * (closing a socket with unread input would send a reset, which can cost the client replies
   * it has not read yet).
   */
  private startDraining(): void {
    if (this.phase === 'draining' || this.phase === 'closed') return;
    this.phase = 'draining';
    // The socket's reader now throws input away; a reply being sent from the file goes on.
    this.requests = undefined;
    this.socket.resume();
    this.settleIfDone();
  }

  private settleIfDone(): void {
    // Device operations finish on their own; replies from the file wait for the peer to read.
    if (this.inflight - this.fileReplies > 0) return;
    if (this.phase === 'draining' && !this.socketGone) {
      if (this.socket.destroyed) return;
      // A peer that neither reads its last replies nor closes is cut off after the grace period.
      this.closeTimer ??= setTimeout(() => this.socket.destroy(), this.ctx.limits.closeGraceMs);
      if (this.fileReplies > 0 || this.held.length > 0) return;
      if (this.corked) this.uncork();
      // 'close' follows once our side is flushed and the peer's is done.
      this.socket.end();
      return;
    }
    if (this.socketGone && this.inflight === 0) this.resolveClosed();
  }

  /** Drops the connection at once (the stream can no longer be trusted, or nothing is pending). */
  private drop(err: unknown): void {
    if (err instanceof NbdProtocolError) this.ctx.log(`dropping connection: ${err.message}`);
    else if (err !== undefined) {
      this.ctx.log(`dropping connection: ${err instanceof Error ? err.message : String(err)}`);
    }
    this.clearHandshakeTimer();
    if (this.phase !== 'closed') this.phase = 'draining';
    this.fileSender?.close();
    this.dropHeld();
    this.socket.destroy();
    this.settleIfDone();
  }

  private clearHandshakeTimer(): void {
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    this.handshakeTimer = undefined;
  }
}
