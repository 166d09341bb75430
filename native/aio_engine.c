/*
 * aio_engine: kernel asynchronous I/O for the host-file leaf, the engines behind QEMU's
 * aio=io_uring and aio=native (the third, aio=threads, is libuv's thread pool, in JS).
 *
 * One engine is a submission/completion pair on the event loop thread, with no threads of its
 * own and no locks (everything here runs on the loop thread):
 *
 *  - io_uring: a ring set up with io_uring_setup(2) and mapped with mmap; an eventfd registered
 *    with IORING_REGISTER_EVENTFD is signalled on every completion.
 *  - native: Linux AIO (io_setup(2) / io_submit(2)); every iocb carries IOCB_FLAG_RESFD so that
 *    the same kind of eventfd is signalled. Linux AIO is only asynchronous for O_DIRECT files,
 *    which is why the JS side (like QEMU) accepts aio=native only with a direct cache mode.
 *
 * libuv watches the eventfd (uv_poll). When it fires, the callback drains every completion
 * into the caller's Int32Array as (id, result) pairs and calls the JS callback once with the
 * count, inside a callback scope so that promise jobs run afterwards. The poll handle is
 * referenced only while something is in flight, so an idle engine never keeps the process alive.
 *
 * JS API (the engine object is an external; ids and flow control belong to the JS side, which
 * never has more than `depth` requests in flight):
 *   aioCreate(kind 'io_uring'|'native', depth, results Int32Array(2 * depth), onComplete(n))
 *   aioSubmit(engine, op 0 read|1 write|2 fdatasync|3 fsync, fd, buf|null, pos, id, rwFlags)
 *     -> 0, or -errno when the kernel refused the submission itself
 *   aioClose(engine)
 * A result is the byte count (or 0 for a sync), or -errno, as the kernel reports it. Buffers
 * must stay referenced by JS until their completion arrives: the engine keeps raw pointers.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/aio_abi.h>
#include <linux/io_uring.h>
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <uv.h>

#include "napi_check.h"

enum { KIND_URING = 1, KIND_LINUX_AIO = 2 };
enum { OP_READ = 0, OP_WRITE = 1, OP_FDATASYNC = 2, OP_FSYNC = 3 };

typedef struct {
  int kind;
  int closed;
  int poll_closed; /* libuv has closed the poll handle (after an explicit close) */
  int finalized;   /* the JS external was collected */
  unsigned depth;
  unsigned inflight;
  int efd;
  uv_poll_t poll;
  napi_env env;
  napi_ref callback;
  napi_ref results_ref;
  napi_async_context async_ctx;
  int32_t *results; /* 2 * depth int32 */
  /* io_uring */
  int ring_fd;
  void *sq_ring, *cq_ring;
  size_t sq_ring_size, cq_ring_size, sqes_size;
  struct io_uring_sqe *sqes;
  unsigned *sq_head, *sq_tail, *sq_mask, *sq_array;
  unsigned *cq_head, *cq_tail, *cq_mask;
  struct io_uring_cqe *cqes;
  /* Linux AIO */
  aio_context_t aio_ctx;
  struct iocb *iocbs; /* one per slot; slot = id % depth is not assumed: a free list */
  unsigned *free_iocbs;
  unsigned free_count;
  struct io_event *events;
} engine_t;

static napi_value throw_errno(napi_env env, int e, const char *what) {
  char msg[160];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(e));
  napi_throw_error(env, e == ENOSYS || e == EPERM ? "ENOSYS" : "EIO", msg);
  return NULL;
}


/* ---- io_uring setup ---------------------------------------------------------------- */

static int uring_setup(engine_t *e) {
  struct io_uring_params p;
  memset(&p, 0, sizeof p);
  int fd = (int)syscall(__NR_io_uring_setup, e->depth, &p);
  if (fd < 0) return -errno;
  e->ring_fd = fd;
  e->sq_ring_size = p.sq_off.array + p.sq_entries * sizeof(unsigned);
  e->cq_ring_size = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
  if (p.features & IORING_FEAT_SINGLE_MMAP) {
    if (e->cq_ring_size > e->sq_ring_size) e->sq_ring_size = e->cq_ring_size;
    e->cq_ring_size = e->sq_ring_size;
  }
  e->sq_ring = mmap(NULL, e->sq_ring_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
                    IORING_OFF_SQ_RING);
  if (e->sq_ring == MAP_FAILED) return -errno;
  if (p.features & IORING_FEAT_SINGLE_MMAP) {
    e->cq_ring = e->sq_ring;
  } else {
    e->cq_ring = mmap(NULL, e->cq_ring_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
                      IORING_OFF_CQ_RING);
    if (e->cq_ring == MAP_FAILED) return -errno;
  }
  e->sqes_size = p.sq_entries * sizeof(struct io_uring_sqe);
  e->sqes = mmap(NULL, e->sqes_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQES);
  if (e->sqes == MAP_FAILED) return -errno;
  char *sq = e->sq_ring, *cq = e->cq_ring;
  e->sq_head = (unsigned *)(sq + p.sq_off.head);
  e->sq_tail = (unsigned *)(sq + p.sq_off.tail);
  e->sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
  e->sq_array = (unsigned *)(sq + p.sq_off.array);
  e->cq_head = (unsigned *)(cq + p.cq_off.head);
  e->cq_tail = (unsigned *)(cq + p.cq_off.tail);
  e->cq_mask = (unsigned *)(cq + p.cq_off.ring_mask);
  e->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
  if (syscall(__NR_io_uring_register, fd, IORING_REGISTER_EVENTFD, &e->efd, 1) < 0) return -errno;
  return 0;
}

static int uring_submit(engine_t *e, int op, int fd, void *buf, size_t len, int64_t pos, uint32_t id,
                        int rw_flags) {
  unsigned tail = *e->sq_tail;
  unsigned head = __atomic_load_n(e->sq_head, __ATOMIC_ACQUIRE);
  if (tail - head >= e->depth) return -EAGAIN;
  unsigned idx = tail & *e->sq_mask;
  struct io_uring_sqe *s = &e->sqes[idx];
  memset(s, 0, sizeof *s);
  s->fd = fd;
  s->user_data = id;
  switch (op) {
  case OP_READ:
  case OP_WRITE:
    s->opcode = op == OP_READ ? IORING_OP_READ : IORING_OP_WRITE;
    s->addr = (uint64_t)(uintptr_t)buf;
    s->len = (uint32_t)len;
    s->off = (uint64_t)pos;
    s->rw_flags = rw_flags;
    break;
  default:
    s->opcode = IORING_OP_FSYNC;
    s->fsync_flags = op == OP_FDATASYNC ? IORING_FSYNC_DATASYNC : 0;
  }
  e->sq_array[idx] = idx;
  __atomic_store_n(e->sq_tail, tail + 1, __ATOMIC_RELEASE);
  int r;
  do {
    r = (int)syscall(__NR_io_uring_enter, e->ring_fd, 1, 0, 0, NULL, 0);
  } while (r < 0 && errno == EINTR);
  if (r < 0) {
    /* The kernel did not consume the entry: take it back. */
    __atomic_store_n(e->sq_tail, tail, __ATOMIC_RELEASE);
    return -errno;
  }
  return 0;
}

static unsigned uring_reap(engine_t *e) {
  unsigned n = 0;
  unsigned head = *e->cq_head;
  unsigned tail = __atomic_load_n(e->cq_tail, __ATOMIC_ACQUIRE);
  while (head != tail && n < e->depth) {
    struct io_uring_cqe *c = &e->cqes[head & *e->cq_mask];
    e->results[2 * n] = (int32_t)c->user_data;
    e->results[2 * n + 1] = c->res;
    n++;
    head++;
  }
  __atomic_store_n(e->cq_head, head, __ATOMIC_RELEASE);
  return n;
}

/* ---- Linux AIO ------------------------------------------------------------------------ */

static int linux_aio_setup(engine_t *e) {
  if (syscall(__NR_io_setup, e->depth, &e->aio_ctx) < 0) return -errno;
  e->iocbs = calloc(e->depth, sizeof *e->iocbs);
  e->free_iocbs = calloc(e->depth, sizeof *e->free_iocbs);
  e->events = calloc(e->depth, sizeof *e->events);
  if (!e->iocbs || !e->free_iocbs || !e->events) return -ENOMEM;
  for (unsigned i = 0; i < e->depth; i++) e->free_iocbs[i] = e->depth - 1 - i;
  e->free_count = e->depth;
  return 0;
}

static int linux_aio_submit(engine_t *e, int op, int fd, void *buf, size_t len, int64_t pos, uint32_t id,
                            int rw_flags) {
  if (e->free_count == 0) return -EAGAIN;
  unsigned slot = e->free_iocbs[--e->free_count];
  struct iocb *cb = &e->iocbs[slot];
  memset(cb, 0, sizeof *cb);
  cb->aio_data = ((uint64_t)slot << 32) | id;
  cb->aio_fildes = (uint32_t)fd;
  cb->aio_flags = IOCB_FLAG_RESFD;
  cb->aio_resfd = (uint32_t)e->efd;
  switch (op) {
  case OP_READ:
  case OP_WRITE:
    cb->aio_lio_opcode = op == OP_READ ? IOCB_CMD_PREAD : IOCB_CMD_PWRITE;
    cb->aio_buf = (uint64_t)(uintptr_t)buf;
    cb->aio_nbytes = len;
    cb->aio_offset = pos;
    cb->aio_rw_flags = rw_flags;
    break;
  default:
    cb->aio_lio_opcode = op == OP_FDATASYNC ? IOCB_CMD_FDSYNC : IOCB_CMD_FSYNC;
  }
  struct iocb *list[1] = {cb};
  int r;
  do {
    r = (int)syscall(__NR_io_submit, e->aio_ctx, 1, list);
  } while (r < 0 && errno == EINTR);
  if (r != 1) {
    int err = r < 0 ? errno : EAGAIN;
    e->free_iocbs[e->free_count++] = slot;
    return -err;
  }
  return 0;
}

static unsigned linux_aio_reap(engine_t *e) {
  struct timespec zero = {0, 0};
  int r = (int)syscall(__NR_io_getevents, e->aio_ctx, 0, e->depth, e->events, &zero);
  if (r <= 0) return 0;
  for (int i = 0; i < r; i++) {
    uint64_t data = e->events[i].data;
    e->free_iocbs[e->free_count++] = (unsigned)(data >> 32);
    e->results[2 * i] = (int32_t)(uint32_t)data;
    e->results[2 * i + 1] = (int32_t)e->events[i].res;
  }
  return (unsigned)r;
}

/* ---- completions on the event loop ---------------------------------------------------- */

static void on_ready(uv_poll_t *handle, int status, int events) {
  (void)status;
  (void)events;
  engine_t *e = handle->data;
  if (e->closed) return;
  uint64_t v;
  if (read(e->efd, &v, sizeof v) < 0 && errno != EAGAIN) return;
  for (;;) {
    unsigned n = e->kind == KIND_URING ? uring_reap(e) : linux_aio_reap(e);
    if (n == 0) break;
    e->inflight -= n;
    if (e->inflight == 0) uv_unref((uv_handle_t *)&e->poll);
    napi_env env = e->env;
    napi_handle_scope scope;
    napi_value cb, recv, argv[1], ignored;
    if (napi_open_handle_scope(env, &scope) != napi_ok) return;
    napi_get_reference_value(env, e->callback, &cb);
    napi_get_global(env, &recv); /* napi_make_callback wants an object as `this` */
    napi_create_uint32(env, n, &argv[0]);
    napi_make_callback(env, e->async_ctx, recv, cb, 1, argv, &ignored);
    napi_close_handle_scope(env, scope);
    if (e->closed) return;
  }
}

static void release_kernel(engine_t *e) {
  if (e->kind == KIND_URING) {
    if (e->sqes && e->sqes != MAP_FAILED) munmap(e->sqes, e->sqes_size);
    if (e->cq_ring && e->cq_ring != MAP_FAILED && e->cq_ring != e->sq_ring) munmap(e->cq_ring, e->cq_ring_size);
    if (e->sq_ring && e->sq_ring != MAP_FAILED) munmap(e->sq_ring, e->sq_ring_size);
    if (e->ring_fd >= 0) close(e->ring_fd);
    e->ring_fd = -1;
    e->sqes = NULL;
    e->sq_ring = e->cq_ring = NULL;
  } else if (e->kind == KIND_LINUX_AIO) {
    if (e->aio_ctx) syscall(__NR_io_destroy, e->aio_ctx);
    e->aio_ctx = 0;
    free(e->iocbs);
    free(e->free_iocbs);
    free(e->events);
    e->iocbs = NULL;
    e->free_iocbs = NULL;
    e->events = NULL;
  }
}

static void on_poll_closed(uv_handle_t *h) {
  engine_t *e = h->data;
  if (e->efd >= 0) close(e->efd);
  e->efd = -1;
  e->poll_closed = 1;
  if (e->finalized) free(e);
}

/* Ends the engine: the JS side has nothing in flight by then (it drains before closing).
 * The struct is freed when both libuv has closed the poll handle and the external is gone. */
static void engine_close(engine_t *e) {
  if (e->closed) return;
  e->closed = 1;
  napi_env env = e->env;
  uv_poll_stop(&e->poll);
  release_kernel(e);
  napi_delete_reference(env, e->callback);
  napi_delete_reference(env, e->results_ref);
  napi_async_destroy(env, e->async_ctx);
  uv_close((uv_handle_t *)&e->poll, on_poll_closed);
}

/* The external was collected. An explicitly closed engine is freed by on_poll_closed; one that
 * was never closed (the process-wide engines live until exit) keeps its small struct: at exit
 * the loop may already be gone, so only the kernel objects are released here. */
static void engine_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  engine_t *e = data;
  e->finalized = 1;
  if (e->poll_closed) {
    free(e);
    return;
  }
  if (e->closed) return; /* on_poll_closed frees it */
  e->closed = 1;
  release_kernel(e);
}

static engine_t *get_engine(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok || !p) {
    napi_throw_type_error(env, "EINVAL", "not an aio engine");
    return NULL;
  }
  engine_t *e = p;
  if (e->closed) {
    napi_throw_error(env, "EBADF", "the aio engine is closed");
    return NULL;
  }
  return e;
}

static napi_value aio_create(napi_env env, napi_callback_info info) {
  napi_value argv[4], result, name;
  size_t argc = 4;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 4) {
    napi_throw_type_error(env, "EINVAL", "aioCreate(kind, depth, results, onComplete)");
    return NULL;
  }
  char kind[16];
  size_t klen;
  uint32_t depth;
  CHECK(napi_get_value_string_utf8(env, argv[0], kind, sizeof kind, &klen));
  CHECK(napi_get_value_uint32(env, argv[1], &depth));
  napi_typedarray_type type;
  size_t length, byte_offset;
  void *data;
  napi_value ab;
  CHECK(napi_get_typedarray_info(env, argv[2], &type, &length, &data, &ab, &byte_offset));
  if (type != napi_int32_array || depth == 0 || depth > 4096 || length < 2 * (size_t)depth) {
    napi_throw_range_error(env, "EINVAL", "aioCreate: depth 1..4096 and an Int32Array of 2 * depth");
    return NULL;
  }
  int k = strcmp(kind, "io_uring") == 0 ? KIND_URING : strcmp(kind, "native") == 0 ? KIND_LINUX_AIO : 0;
  if (!k) {
    napi_throw_range_error(env, "EINVAL", "aioCreate: kind must be io_uring or native");
    return NULL;
  }
  engine_t *e = calloc(1, sizeof *e);
  if (!e) return throw_errno(env, ENOMEM, "aioCreate");
  e->kind = k;
  e->depth = depth;
  e->env = env;
  e->ring_fd = -1;
  e->results = data;
  e->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (e->efd < 0) {
    int err = errno;
    free(e);
    return throw_errno(env, err, "eventfd");
  }
  int r = k == KIND_URING ? uring_setup(e) : linux_aio_setup(e);
  if (r < 0) {
    release_kernel(e);
    close(e->efd);
    free(e);
    return throw_errno(env, -r, k == KIND_URING ? "io_uring_setup" : "io_setup");
  }
  uv_loop_t *loop;
  CHECK(napi_get_uv_event_loop(env, &loop));
  uv_poll_init(loop, &e->poll, e->efd);
  e->poll.data = e;
  uv_poll_start(&e->poll, UV_READABLE, on_ready);
  uv_unref((uv_handle_t *)&e->poll);
  CHECK(napi_create_reference(env, argv[3], 1, &e->callback));
  CHECK(napi_create_reference(env, argv[2], 1, &e->results_ref));
  CHECK(napi_create_string_utf8(env, "vdisk.aio", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_async_init(env, NULL, name, &e->async_ctx));
  CHECK(napi_create_external(env, e, engine_finalize, NULL, &result));
  return result;
}

static napi_value aio_submit(napi_env env, napi_callback_info info) {
  napi_value argv[7], result;
  size_t argc = 7;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 7) {
    napi_throw_type_error(env, "EINVAL", "aioSubmit(engine, op, fd, buf, pos, id, rwFlags)");
    return NULL;
  }
  engine_t *e = get_engine(env, argv[0]);
  if (!e) return NULL;
  int32_t op, fd, rw_flags;
  uint32_t id;
  int64_t pos;
  CHECK(napi_get_value_int32(env, argv[1], &op));
  CHECK(napi_get_value_int32(env, argv[2], &fd));
  CHECK(napi_get_value_int64(env, argv[4], &pos));
  CHECK(napi_get_value_uint32(env, argv[5], &id));
  CHECK(napi_get_value_int32(env, argv[6], &rw_flags));
  void *buf = NULL;
  size_t len = 0;
  if (op == OP_READ || op == OP_WRITE) {
    napi_typedarray_type type;
    napi_value ab;
    size_t byte_offset;
    CHECK(napi_get_typedarray_info(env, argv[3], &type, &len, &buf, &ab, &byte_offset));
    if (len > 0x7ffff000) {
      napi_throw_range_error(env, "EINVAL", "aioSubmit: transfer too large");
      return NULL;
    }
  } else if (op != OP_FDATASYNC && op != OP_FSYNC) {
    napi_throw_range_error(env, "EINVAL", "aioSubmit: unknown op");
    return NULL;
  }
  int r = e->kind == KIND_URING ? uring_submit(e, op, fd, buf, len, pos, id, rw_flags)
                                : linux_aio_submit(e, op, fd, buf, len, pos, id, rw_flags);
  if (r == 0 && e->inflight++ == 0) uv_ref((uv_handle_t *)&e->poll);
  CHECK(napi_create_int32(env, r, &result));
  return result;
}

static napi_value aio_close(napi_env env, napi_callback_info info) {
  napi_value argv[1], undef;
  size_t argc = 1;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void *p = NULL;
  if (argc < 1 || napi_get_value_external(env, argv[0], &p) != napi_ok || !p) {
    napi_throw_type_error(env, "EINVAL", "aioClose(engine)");
    return NULL;
  }
  engine_close(p);
  CHECK(napi_get_undefined(env, &undef));
  return undef;
}

napi_status aio_register(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"aioCreate", NULL, aio_create, NULL, NULL, NULL, napi_default, NULL},
      {"aioSubmit", NULL, aio_submit, NULL, NULL, NULL, napi_default, NULL},
      {"aioClose", NULL, aio_close, NULL, NULL, NULL, napi_default, NULL},
  };
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
