/*
 * sendfile: read replies sent from a host file to a TCP socket without the data entering the
 * process.
 *
 * A read's reply (its header, then the data) goes from the file to the socket with sendfile(2):
 * the socket takes references to the page-cache pages, and the server copies nothing. Read into
 * a buffer and sent, the data is copied twice on the event loop.
 *
 * One sender per connection, on the event loop thread only. It holds a duplicate of the socket
 * descriptor and one libuv poll handle on that duplicate, so it can wait for room to send while
 * Node's own writer holds its replies back (the JS side keeps the socket's output to one owner at
 * a time: two writers of one stream would tear it apart).
 *
 * A reply cannot be taken back once its header is out, so any failure while sending one loses
 * the stream.
 *
 * (Write payloads once went the other way, from the socket into the file with splice(2). On 1 MiB
 * NBD writes to tmpfs that was slower than reading them into a buffer and writing that, so it
 * went: docs/benchmarks.md.)
 *
 * JS API:
 *   sendFileOpen(socketFd, onSent(code)) -> sender (an external)
 *   sendFile(sender, header, fileFd, position, length) -> code, or null when the socket has no
 *     room for all of it yet: then the poll handle waits for room and onSent(code) follows.
 *     A code is 0 (sent) or a negative errno (the socket or the file failed: the stream is lost;
 *     -EIO when the file ended early). `header` (at most 64 bytes) is copied.
 *   sendFileClose(sender): stops waiting (no callback follows) and closes the duplicate.
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

#define HEADER_MAX 64

typedef struct {
  int sock;      /* our duplicate of the socket */
  int closed;    /* sendFileClose was called */
  int finalized; /* the JS external was collected */
  int poll_closed;
  int sending; /* a reply is under way, waiting for room */
  int file;
  int64_t position;
  uint64_t left; /* reply data still to send from the file */
  unsigned char header[HEADER_MAX];
  size_t header_len, header_sent;
  uv_poll_t poll;
  napi_env env;
  napi_ref on_sent;
  napi_async_context async_ctx;
} sender_t;

/* Sends what the socket has room for of the reply under way. 1: all sent; 0: no room for
 * more now; -errno: the socket or the file failed (-EIO: the file ended early). */
static int send_step(sender_t *s) {
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
  while (s->left > 0) {
    off_t pos = s->position;
    size_t want = s->left < (1u << 30) ? (size_t)s->left : (1u << 30);
    ssize_t n = sendfile(s->sock, s->file, &pos, want);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return 0;
      return -errno;
    }
    if (n == 0) return -EIO;
    s->position += n;
    s->left -= (uint64_t)n;
  }
  return 1;
}

static void on_event(uv_poll_t *handle, int status, int events);

/* Starts or stops the poll handle: it waits for room only while a reply is under way. */
static void watch(sender_t *s) {
  if (s->closed || !s->sending) uv_poll_stop(&s->poll);
  else uv_poll_start(&s->poll, UV_WRITABLE, on_event);
}

static void call_back(sender_t *s, int code) {
  napi_env env = s->env;
  napi_handle_scope scope;
  napi_value cb, recv, argv[1], ignored;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_get_reference_value(env, s->on_sent, &cb);
  napi_get_global(env, &recv);
  napi_create_int32(env, code, &argv[0]);
  napi_make_callback(env, s->async_ctx, recv, cb, 1, argv, &ignored);
  napi_close_handle_scope(env, scope);
}

static void on_event(uv_poll_t *handle, int status, int events) {
  sender_t *s = handle->data;
  if (s->closed || !s->sending || (status >= 0 && !(events & UV_WRITABLE))) return;
  int r = status < 0 ? -EPIPE : send_step(s);
  if (r == 0) return;
  s->sending = 0;
  watch(s);
  /* The callback may close the sender or start the next reply. */
  call_back(s, r < 0 ? r : 0);
}

static void on_poll_closed(uv_handle_t *h) {
  sender_t *s = h->data;
  close(s->sock);
  s->sock = -1;
  s->poll_closed = 1;
  if (s->finalized) free(s);
}

static void sender_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  sender_t *s = data;
  s->finalized = 1;
  if (s->poll_closed) free(s);
  /* Not closed yet: the process is exiting with the connection open; the loop may be gone, so
   * the small struct and the descriptor are left to the exit. */
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

/* Reads `want` arguments, the first a sender; throws and returns NULL when they are not. */
static sender_t *get_sender_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv,
                                 const char *usage) {
  if (!get_argv(env, info, want, argv, usage)) return NULL;
  void *p = NULL;
  if (napi_get_value_external(env, argv[0], &p) != napi_ok || !p) {
    napi_throw_type_error(env, "EINVAL", "not a file sender");
    return NULL;
  }
  return p;
}

/* The JS side takes any error from sendFileOpen as "no sendfile here" and sends from buffers. */
static napi_value throw_errno_at(napi_env env, int e, const char *what) {
  char msg[160];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(e));
  napi_throw_error(env, "ESENDFILE", msg);
  return NULL;
}

static napi_value send_file_open(napi_env env, napi_callback_info info) {
  napi_value argv[2], result, name;
  int32_t fd;
  if (!get_argv(env, info, 2, argv, "sendFileOpen(socketFd, onSent)")) return NULL;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, "EINVAL", "sendFileOpen(socketFd, onSent)");
    return NULL;
  }
  sender_t *s = calloc(1, sizeof *s);
  if (!s) return throw_errno_at(env, ENOMEM, "sendFileOpen");
  s->sock = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (s->sock < 0) {
    int err = errno;
    free(s);
    return throw_errno_at(env, err, "sendFileOpen: cannot duplicate the socket");
  }
  s->env = env;
  uv_loop_t *loop;
  CHECK(napi_get_uv_event_loop(env, &loop));
  if (uv_poll_init(loop, &s->poll, s->sock) != 0) {
    close(s->sock);
    free(s);
    return throw_errno_at(env, EINVAL, "sendFileOpen: cannot poll the socket");
  }
  s->poll.data = s;
  CHECK(napi_create_reference(env, argv[1], 1, &s->on_sent));
  CHECK(napi_create_string_utf8(env, "vdisk.sendfile", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_async_init(env, NULL, name, &s->async_ctx));
  CHECK(napi_create_external(env, s, sender_finalize, NULL, &result));
  return result;
}

static napi_value send_file(napi_env env, napi_callback_info info) {
  napi_value argv[5], result;
  sender_t *s = get_sender_args(env, info, 5, argv, "sendFile(sender, header, fileFd, position, length)");
  if (!s) return NULL;
  if (s->closed || s->sending) {
    napi_throw_error(env, "EBUSY", s->closed ? "the file sender is closed" : "a reply is under way");
    return NULL;
  }
  void *header;
  size_t header_len;
  int32_t file;
  int64_t position, length;
  if (napi_get_buffer_info(env, argv[1], &header, &header_len) != napi_ok || header_len > HEADER_MAX) {
    napi_throw_type_error(env, "EINVAL", "sendFile: the header is a Buffer of at most 64 bytes");
    return NULL;
  }
  if (napi_get_value_int32(env, argv[2], &file) != napi_ok ||
      napi_get_value_int64(env, argv[3], &position) != napi_ok ||
      napi_get_value_int64(env, argv[4], &length) != napi_ok || position < 0 || length <= 0) {
    napi_throw_range_error(env, "EINVAL", "sendFile: a file descriptor, a position >= 0 and a length > 0");
    return NULL;
  }
  memcpy(s->header, header, header_len);
  s->header_len = header_len;
  s->header_sent = 0;
  s->file = file;
  s->position = position;
  s->left = (uint64_t)length;
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

static napi_value send_file_close(napi_env env, napi_callback_info info) {
  napi_value argv[1], undef;
  sender_t *s = get_sender_args(env, info, 1, argv, "sendFileClose(sender)");
  if (!s) return NULL;
  if (!s->closed) {
    s->closed = 1;
    s->sending = 0;
    uv_poll_stop(&s->poll);
    napi_delete_reference(env, s->on_sent);
    napi_async_destroy(env, s->async_ctx);
    uv_close((uv_handle_t *)&s->poll, on_poll_closed);
  }
  CHECK(napi_get_undefined(env, &undef));
  return undef;
}

napi_status sendfile_register(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"sendFileOpen", NULL, send_file_open, NULL, NULL, NULL, napi_default, NULL},
      {"sendFile", NULL, send_file, NULL, NULL, NULL, napi_default, NULL},
      {"sendFileClose", NULL, send_file_close, NULL, NULL, NULL, napi_default, NULL},
  };
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
