/*
 * splice: moves bytes between a TCP socket and a host file without them entering the process.
 *
 * In: a write's payload goes from the socket into the file with splice(2): socket -> pipe takes
 * references to the received pages, and pipe -> file is the one copy, into the page cache. Read
 * into a buffer and written with pwrite, the same bytes are copied twice on the event loop.
 *
 * Out: a read's reply (its header, then the data) goes from the file to the socket with
 * sendfile(2): the socket takes references to the page-cache pages, and the server copies
 * nothing. Read into a buffer and sent, the data is copied twice on the event loop.
 *
 * One splicer per connection, on the event loop thread only. It holds a duplicate of the socket
 * descriptor and one libuv poll handle on that duplicate, so it can wait for input while Node's own
 * reader of the socket is stopped, and for room to send while Node's own writer holds its
 * replies back (the JS side keeps each direction to one owner at a time: two readers or two
 * writers of one stream would tear it apart). One pipe serves the whole process: every step
 * drains it into the file before returning.
 *
 * While it waits for input, the socket's receive low-water mark (SO_RCVLOWAT) is raised to what
 * the payload still lacks (at most 256 KiB), so the splicer wakes once per large piece rather
 * than once per segment, and is set back to 1 for the socket's own reader when the payload is
 * done. Measured on 1 MiB sequential writes: 2 socket splices per payload instead of 10.
 *
 * A payload is always consumed whole, so the stream stays in step: when the file refuses bytes
 * (ENOSPC, EIO), the rest is still taken from the socket and thrown away, and the error is
 * reported at the end, for the request's error reply. A reply cannot be taken back once its
 * header is out, so any failure while sending one loses the stream.
 *
 * JS API:
 *   spliceOpen(socketFd, onWritten(code), onSent(code)) -> splicer (an external)
 *   spliceWrite(splicer, fileFd, position, length) -> code, or null when the payload is not all
 *     there yet: then the poll handle waits for input and onWritten(code) follows.
 *     A code is 0 (written), a positive errno (the payload was consumed but the file write
 *     failed) or a negative errno (the socket failed or ended mid-payload: the stream is lost;
 *     -ECONNRESET for an orderly end).
 *   spliceSend(splicer, header, fileFd, position, length) -> code, or null when the socket has
 *     no room for all of it yet: then the poll handle waits for room and onSent(code) follows.
 *     A code is 0 (sent) or a negative errno (the socket or the file failed: the stream is lost;
 *     -EIO when the file ended early). `header` (at most 64 bytes) is copied.
 *   spliceAbandon(splicer): gives up the payload under way, if any (no onWritten follows): the
 *     socket's own reader takes over to drain the input; a reply under way goes on.
 *   spliceClose(splicer): stops waiting (no callback follows) and closes the duplicate.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>
#include <uv.h>

#include "napi_check.h"

/* The process's pipe, made on first use: [0] read end, [1] write end, both non-blocking. */
static int pipe_fds[2] = {-1, -1};
static size_t pipe_capacity;
static int null_fd = -1;

#define HEADER_MAX 64

typedef struct {
  int sock;       /* our duplicate of the socket */
  int closed;     /* spliceClose was called */
  int finalized;  /* the JS external was collected */
  int poll_closed;
  int waiting;    /* a payload is under way, waiting for input */
  int file;
  int64_t position;
  uint64_t left;  /* payload bytes still to take from the socket */
  int file_err;   /* first errno from the file; the rest of the payload is discarded */
  int sending;    /* a reply is under way, waiting for room */
  int out_file;
  int64_t out_position;
  uint64_t out_left; /* reply data still to send from the file */
  unsigned char header[HEADER_MAX];
  size_t header_len, header_sent;
  uv_poll_t poll;
  napi_env env;
  napi_ref on_written, on_sent;
  napi_async_context async_ctx;
} splicer_t;

static int ensure_pipe(void) {
  if (pipe_fds[0] >= 0) return 0;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0) return -errno;
  /* One megabyte of pipe takes a whole 1 MiB payload in one step; the default is 64 KiB. */
  int cap = fcntl(fds[1], F_SETPIPE_SZ, 1 << 20);
  if (cap < 0) cap = fcntl(fds[1], F_GETPIPE_SZ);
  int nul = open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (cap <= 0 || nul < 0) {
    int err = errno;
    close(fds[0]);
    close(fds[1]);
    if (nul >= 0) close(nul);
    return -(err ? err : EIO);
  }
  pipe_fds[0] = fds[0];
  pipe_fds[1] = fds[1];
  pipe_capacity = (size_t)cap;
  null_fd = nul;
  return 0;
}

/* Empties `n` bytes of the pipe into the file at the splicer's position, or into /dev/null once
 * the file has failed. Never leaves bytes in the pipe. */
static void drain_pipe(splicer_t *s, size_t n) {
  while (n > 0) {
    ssize_t w;
    if (!s->file_err) {
      loff_t pos = s->position;
      w = splice(pipe_fds[0], NULL, s->file, &pos, n, SPLICE_F_MOVE);
      if (w > 0) {
        s->position = pos;
      } else if (w == 0 || errno != EINTR) {
        s->file_err = w == 0 ? EIO : errno;
      }
    } else {
      w = splice(pipe_fds[0], NULL, null_fd, NULL, n, SPLICE_F_MOVE);
      if (w <= 0 && errno != EINTR) {
        /* /dev/null refused: read the bytes out instead. */
        char scratch[65536];
        w = read(pipe_fds[0], scratch, n < sizeof scratch ? n : sizeof scratch);
        if (w <= 0) return; /* cannot happen with bytes in the pipe; do not spin */
      }
    }
    if (w > 0) n -= (size_t)w;
  }
}

/* Takes what the socket has of the payload. 1: the payload is all taken; 0: the socket has no
 * more for now; -errno: the socket failed or ended. */
static int step(splicer_t *s) {
  while (s->left > 0) {
    size_t want = s->left < pipe_capacity ? (size_t)s->left : pipe_capacity;
    ssize_t n = splice(s->sock, NULL, pipe_fds[1], NULL, want, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return 0;
      return -errno;
    }
    if (n == 0) return -ECONNRESET;
    s->left -= (uint64_t)n;
    drain_pipe(s, (size_t)n);
  }
  return 1;
}

static int result_code(splicer_t *s, int r) { return r < 0 ? r : s->file_err; }

static void on_event(uv_poll_t *handle, int status, int events);

/* Wakes the poll handle only once `left` bytes (at most LOWAT_MAX) are queued: one wake-up and
 * one splice per large piece instead of one per segment. 1 again once the payload is done, for
 * the socket's own reader. */
#define LOWAT_MAX (256 * 1024)
static void set_lowat(splicer_t *s, uint64_t left) {
  int v = left == 0 ? 1 : left < LOWAT_MAX ? (int)left : LOWAT_MAX;
  setsockopt(s->sock, SOL_SOCKET, SO_RCVLOWAT, &v, sizeof v);
}

/* Sends what the socket has room for of the reply under way. 1: all sent; 0: no room for
 * more now; -errno: the socket or the file failed (-EIO: the file ended early). */
static int send_step(splicer_t *s) {
  while (s->header_sent < s->header_len) {
    ssize_t n = send(s->sock, s->header + s->header_sent, s->header_len - s->header_sent,
                     MSG_MORE | MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return 0;
      return -errno;
    }
    s->header_sent += (size_t)n;
  }
  while (s->out_left > 0) {
    off_t pos = s->out_position;
    size_t want = s->out_left < (1u << 30) ? (size_t)s->out_left : (1u << 30);
    ssize_t n = sendfile(s->sock, s->out_file, &pos, want);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return 0;
      return -errno;
    }
    if (n == 0) return -EIO;
    s->out_position += n;
    s->out_left -= (uint64_t)n;
  }
  return 1;
}

/* Starts or stops the poll handle for what the splicer waits for now. */
static void watch(splicer_t *s) {
  int events = (s->waiting ? UV_READABLE | UV_DISCONNECT : 0) | (s->sending ? UV_WRITABLE : 0);
  if (s->closed || events == 0) uv_poll_stop(&s->poll);
  else uv_poll_start(&s->poll, events, on_event);
}

static void call_back(splicer_t *s, napi_ref which, int code) {
  napi_env env = s->env;
  napi_handle_scope scope;
  napi_value cb, recv, argv[1], ignored;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_get_reference_value(env, which, &cb);
  napi_get_global(env, &recv);
  napi_create_int32(env, code, &argv[0]);
  napi_make_callback(env, s->async_ctx, recv, cb, 1, argv, &ignored);
  napi_close_handle_scope(env, scope);
}

static void on_event(uv_poll_t *handle, int status, int events) {
  splicer_t *s = handle->data;
  int in_done = 0, in_code = 0, out_done = 0, out_code = 0;
  if (!s->closed && s->waiting && (status < 0 || (events & (UV_READABLE | UV_DISCONNECT)))) {
    int r = status < 0 ? -ECONNRESET : step(s);
    if (r == 0) {
      set_lowat(s, s->left);
    } else {
      set_lowat(s, 0);
      s->waiting = 0;
      in_done = 1;
      in_code = result_code(s, r);
    }
  }
  if (!s->closed && s->sending && (status < 0 || (events & UV_WRITABLE))) {
    int r = status < 0 ? -EPIPE : send_step(s);
    if (r != 0) {
      s->sending = 0;
      out_done = 1;
      out_code = r < 0 ? r : 0;
    }
  }
  watch(s);
  /* Each callback may close the splicer or start the next operation. */
  if (in_done && !s->closed) call_back(s, s->on_written, in_code);
  if (out_done && !s->closed) call_back(s, s->on_sent, out_code);
}

static void on_poll_closed(uv_handle_t *h) {
  splicer_t *s = h->data;
  close(s->sock);
  s->sock = -1;
  s->poll_closed = 1;
  if (s->finalized) free(s);
}

static void splicer_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  splicer_t *s = data;
  s->finalized = 1;
  if (s->poll_closed) free(s);
  /* Not closed yet: the process is exiting with the connection open; the loop may be gone, so
   * the small struct and the descriptor are left to the exit. */
}

static splicer_t *get_splicer(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok || !p) {
    napi_throw_type_error(env, "EINVAL", "not a splicer");
    return NULL;
  }
  return p;
}

/* The JS side takes any error from spliceOpen as "no splicing here" and reads the socket. */
static napi_value throw_errno_at(napi_env env, int e, const char *what) {
  char msg[160];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(e));
  napi_throw_error(env, "ESPLICE", msg);
  return NULL;
}

/* Reads `want` arguments into argv; throws the usage line and returns 0 when they are fewer. */
static int get_argv(napi_env env, napi_callback_info info, size_t want, napi_value *argv, const char *usage) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < want) {
    napi_throw_type_error(env, "EINVAL", usage);
    return 0;
  }
  return 1;
}

/* Reads `want` arguments, the first a splicer; throws and returns NULL when they are not. */
static splicer_t *get_splicer_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv,
                                   const char *usage) {
  return get_argv(env, info, want, argv, usage) ? get_splicer(env, argv[0]) : NULL;
}

/* Reads a file descriptor, a position >= 0 and a length > 0 from argv[0..2]; throws (naming
 * `who`) and returns 0 when they are not. */
static int get_file_range(napi_env env, napi_value *argv, int32_t *file, int64_t *position, int64_t *length,
                          const char *who) {
  if (napi_get_value_int32(env, argv[0], file) != napi_ok ||
      napi_get_value_int64(env, argv[1], position) != napi_ok ||
      napi_get_value_int64(env, argv[2], length) != napi_ok || *position < 0 || *length <= 0) {
    char msg[120];
    snprintf(msg, sizeof msg, "%s: a file descriptor, a position >= 0 and a length > 0", who);
    napi_throw_range_error(env, "EINVAL", msg);
    return 0;
  }
  return 1;
}

static napi_value splice_open(napi_env env, napi_callback_info info) {
  napi_value argv[3], result, name;
  int32_t fd;
  if (!get_argv(env, info, 3, argv, "spliceOpen(socketFd, onWritten, onSent)")) return NULL;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, "EINVAL", "spliceOpen(socketFd, onWritten, onSent)");
    return NULL;
  }
  int r = ensure_pipe();
  if (r < 0) return throw_errno_at(env, -r, "spliceOpen: cannot make the pipe");
  splicer_t *s = calloc(1, sizeof *s);
  if (!s) return throw_errno_at(env, ENOMEM, "spliceOpen");
  s->sock = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (s->sock < 0) {
    int err = errno;
    free(s);
    return throw_errno_at(env, err, "spliceOpen: cannot duplicate the socket");
  }
  s->env = env;
  uv_loop_t *loop;
  CHECK(napi_get_uv_event_loop(env, &loop));
  if (uv_poll_init(loop, &s->poll, s->sock) != 0) {
    close(s->sock);
    free(s);
    return throw_errno_at(env, EINVAL, "spliceOpen: cannot poll the socket");
  }
  s->poll.data = s;
  CHECK(napi_create_reference(env, argv[1], 1, &s->on_written));
  CHECK(napi_create_reference(env, argv[2], 1, &s->on_sent));
  CHECK(napi_create_string_utf8(env, "vdisk.splice", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_async_init(env, NULL, name, &s->async_ctx));
  CHECK(napi_create_external(env, s, splicer_finalize, NULL, &result));
  return result;
}

static napi_value splice_write(napi_env env, napi_callback_info info) {
  napi_value argv[4], result;
  splicer_t *s = get_splicer_args(env, info, 4, argv, "spliceWrite(splicer, fileFd, position, length)");
  if (!s) return NULL;
  if (s->closed || s->waiting) {
    napi_throw_error(env, "EBUSY", s->closed ? "the splicer is closed" : "a payload is under way");
    return NULL;
  }
  int32_t file;
  int64_t position, length;
  if (!get_file_range(env, argv + 1, &file, &position, &length, "spliceWrite")) return NULL;
  s->file = file;
  s->position = position;
  s->left = (uint64_t)length;
  s->file_err = 0;
  int r = step(s);
  if (r == 0) {
    set_lowat(s, s->left);
    s->waiting = 1;
    watch(s);
    CHECK(napi_get_null(env, &result));
    return result;
  }
  CHECK(napi_create_int32(env, result_code(s, r), &result));
  return result;
}

static napi_value splice_send(napi_env env, napi_callback_info info) {
  napi_value argv[5], result;
  splicer_t *s =
      get_splicer_args(env, info, 5, argv, "spliceSend(splicer, header, fileFd, position, length)");
  if (!s) return NULL;
  if (s->closed || s->sending) {
    napi_throw_error(env, "EBUSY", s->closed ? "the splicer is closed" : "a reply is under way");
    return NULL;
  }
  void *header;
  size_t header_len;
  int32_t file;
  int64_t position, length;
  if (napi_get_buffer_info(env, argv[1], &header, &header_len) != napi_ok || header_len > HEADER_MAX) {
    napi_throw_type_error(env, "EINVAL", "spliceSend: the header is a Buffer of at most 64 bytes");
    return NULL;
  }
  if (!get_file_range(env, argv + 2, &file, &position, &length, "spliceSend")) return NULL;
  memcpy(s->header, header, header_len);
  s->header_len = header_len;
  s->header_sent = 0;
  s->out_file = file;
  s->out_position = position;
  s->out_left = (uint64_t)length;
  int r = send_step(s);
  if (r == 0) {
    s->sending = 1;
    watch(s);
    CHECK(napi_get_null(env, &result));
    return result;
  }
  CHECK(napi_create_int32(env, r < 0 ? r : 0, &result));
  return result;
}

static napi_value splice_abandon(napi_env env, napi_callback_info info) {
  napi_value argv[1], undef;
  splicer_t *s = get_splicer_args(env, info, 1, argv, "spliceAbandon(splicer)");
  if (!s) return NULL;
  if (!s->closed && s->waiting) {
    set_lowat(s, 0);
    s->waiting = 0;
    watch(s);
  }
  CHECK(napi_get_undefined(env, &undef));
  return undef;
}

static napi_value splice_close(napi_env env, napi_callback_info info) {
  napi_value argv[1], undef;
  splicer_t *s = get_splicer_args(env, info, 1, argv, "spliceClose(splicer)");
  if (!s) return NULL;
  if (!s->closed) {
    s->closed = 1;
    /* The socket's own reader takes over again (to drain it): the low-water mark goes back. */
    if (s->waiting) set_lowat(s, 0);
    s->waiting = 0;
    s->sending = 0;
    uv_poll_stop(&s->poll);
    napi_delete_reference(env, s->on_written);
    napi_delete_reference(env, s->on_sent);
    napi_async_destroy(env, s->async_ctx);
    uv_close((uv_handle_t *)&s->poll, on_poll_closed);
  }
  CHECK(napi_get_undefined(env, &undef));
  return undef;
}

napi_status splice_register(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"spliceOpen", NULL, splice_open, NULL, NULL, NULL, napi_default, NULL},
      {"spliceWrite", NULL, splice_write, NULL, NULL, NULL, napi_default, NULL},
      {"spliceSend", NULL, splice_send, NULL, NULL, NULL, napi_default, NULL},
      {"spliceAbandon", NULL, splice_abandon, NULL, NULL, NULL, napi_default, NULL},
      {"spliceClose", NULL, splice_close, NULL, NULL, NULL, napi_default, NULL},
  };
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
