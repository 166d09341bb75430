/*
 * vdisk_native: the few host-file primitives that Node's fs module does not expose.
 *
 *  - allocAligned(size, align): memory aligned for O_DIRECT, handed to JS as an external
 *    ArrayBuffer that frees itself when collected. Node Buffers carry no alignment promise,
 *    and O_DIRECT needs buffer address, file offset and length aligned to the logical block.
 *  - pageOffset(buf, align): a buffer's address modulo align, for aligned views of ordinary
 *    (garbage-collected) Buffers: the kernel copies file data into page-aligned memory several
 *    times faster than into memory at malloc's 16-byte alignment.
 *  - fallocate(fd, mode, offset, length): punch hole, zero range and preallocation, run on
 *    the libuv thread pool because preallocating a large file can take seconds.
 *  - seek(fd, offset, whence): lseek with SEEK_DATA / SEEK_HOLE for sparse-aware block status.
 *  - fadviseRandom(fd): POSIX_FADV_RANDOM, no readahead past what is read.
 *  - ofdLock(fd, offset, exclusive) / ofdUnlock / ofdTest: open-file-description byte-range
 *    locks (F_OFD_SETLK / F_OFD_GETLK). QEMU marks image permissions with these on bytes
 *    100+bit and 200+bit; speaking the same protocol lets vdisk and QEMU see each other.
 *  - readNowait(fd, buf, offset) / writeNowait(fd, buf, offset): preadv2/pwritev2 with
 *    RWF_NOWAIT, run synchronously: they copy from or to the page cache when that needs no wait
 *    for the disk, and return -1 when it would (or when the file or kernel cannot tell), so the
 *    caller takes the thread pool; -2 when the file system never does it (EOPNOTSUPP). A small
 *    cached read then costs no thread-pool round trip, and a slow disk still never stalls the
 *    event loop.
 *  - dioAlign(fd): statx(STATX_DIOALIGN), the file system's own answer to "does direct I/O work
 *    on this file, and with which memory and offset alignment". { memAlign: 0, offsetAlign: 0 }
 *    means direct I/O is not supported on this file. Returns null when the kernel or the file
 *    system cannot say: before Linux 6.1, and on tmpfs, which since Linux 6.6 accepts O_DIRECT
 *    at open but serves it from the page cache (the caller checks the file system type then).
 *
 *  - tcpCongestion(fd, name?): the TCP congestion control of a socket (TCP_CONGESTION): sets it
 *    when a name is given, and returns the name in use. Node has no setsockopt.
 *
 *  - aioCreate / aioSubmit / aioClose: the io_uring and Linux AIO engines (aio_engine.c).
 *  - sendFileOpen / sendFile / sendFileClose: read replies sent from a file to a socket with
 *    sendfile(2), never entering the process (sendfile.c).
 *
 * Errors are thrown as JS Errors carrying `code` (the errno name) and `errno`, like Node's fs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "napi_check.h"

static const char *errno_name(int e) {
  switch (e) {
  case EINVAL: return "EINVAL";
  case EOPNOTSUPP: return "EOPNOTSUPP";
  case ENOSPC: return "ENOSPC";
  case EBADF: return "EBADF";
  case EAGAIN: return "EAGAIN";
  case EACCES: return "EACCES";
  case ENXIO: return "ENXIO";
  case EIO: return "EIO";
  case EFBIG: return "EFBIG";
  case EPERM: return "EPERM";
  case ENOMEM: return "ENOMEM";
  case EROFS: return "EROFS";
  case ENODEV: return "ENODEV";
  case ESPIPE: return "ESPIPE";
  case EINTR: return "EINTR";
  case ENOENT: return "ENOENT";
  case EDQUOT: return "EDQUOT";
  case ENOSYS: return "ENOSYS";
  case EISDIR: return "EISDIR";
  case ETXTBSY: return "ETXTBSY";
  case EOVERFLOW: return "EOVERFLOW";
  case ENOTSOCK: return "ENOTSOCK";
  case ENOPROTOOPT: return "ENOPROTOOPT";
  default: return "EUNKNOWN";
  }
}

static napi_value make_errno_error(napi_env env, int e, const char *syscall) {
  napi_value code, msg, err, num, sc;
  char text[160];
  snprintf(text, sizeof text, "%s: %s", syscall, strerror(e));
  napi_create_string_utf8(env, errno_name(e), NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, code, msg, &err);
  napi_create_int32(env, -e, &num);
  napi_set_named_property(env, err, "errno", num);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &sc);
  napi_set_named_property(env, err, "syscall", sc);
  return err;
}

static int get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < want) {
    napi_throw_type_error(env, "EINVAL", "wrong number of arguments");
    return 0;
  }
  return 1;
}

static int get_i64(napi_env env, napi_value v, int64_t *out) {
  if (napi_get_value_int64(env, v, out) != napi_ok) {
    napi_throw_type_error(env, "EINVAL", "expected a number");
    return 0;
  }
  return 1;
}

/* ---- allocAligned ---------------------------------------------------------------- */

static void free_aligned(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  free(data);
}

static napi_value alloc_aligned(napi_env env, napi_callback_info info) {
  napi_value argv[2], result;
  int64_t size, align;
  void *mem = NULL;
  if (!get_args(env, info, 2, argv) || !get_i64(env, argv[0], &size) || !get_i64(env, argv[1], &align))
    return NULL;
  if (size <= 0 || size > ((int64_t)1 << 32) || align < 8 || (align & (align - 1)) != 0) {
    napi_throw_range_error(env, "EINVAL", "allocAligned: bad size or alignment");
    return NULL;
  }
  if (posix_memalign(&mem, (size_t)align, (size_t)size) != 0) {
    napi_throw_error(env, "ENOMEM", "allocAligned: out of memory");
    return NULL;
  }
  memset(mem, 0, (size_t)size);
  if (napi_create_external_arraybuffer(env, mem, (size_t)size, free_aligned, NULL, &result) != napi_ok) {
    free(mem);
    napi_throw_error(env, "EVDISKNATIVE", "allocAligned: cannot create external ArrayBuffer");
    return NULL;
  }
  return result;
}

/* pageOffset(buf, align): the buffer's address modulo `align` (a power of two), so that JS can
 * carve an aligned view out of an ordinary, garbage-collected allocation. */
static napi_value page_offset(napi_env env, napi_callback_info info) {
  napi_value argv[2], result;
  int64_t align;
  napi_typedarray_type type;
  size_t length, byte_offset;
  void *data;
  napi_value ab;
  if (!get_args(env, info, 2, argv) || !get_i64(env, argv[1], &align)) return NULL;
  if (align < 1 || (align & (align - 1)) != 0) {
    napi_throw_range_error(env, "EINVAL", "pageOffset: alignment must be a power of two");
    return NULL;
  }
  CHECK(napi_get_typedarray_info(env, argv[0], &type, &length, &data, &ab, &byte_offset));
  CHECK(napi_create_int64(env, (int64_t)((uintptr_t)data & (uintptr_t)(align - 1)), &result));
  return result;
}

/* ---- fallocate (async) ----------------------------------------------------------- */

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  int fd;
  int mode;
  int64_t offset;
  int64_t length;
  int err;
} falloc_req;

static void falloc_execute(napi_env env, void *data) {
  (void)env;
  falloc_req *r = data;
  int rc;
  do {
    rc = fallocate(r->fd, r->mode, (off_t)r->offset, (off_t)r->length);
  } while (rc != 0 && errno == EINTR);
  r->err = rc == 0 ? 0 : errno;
}

static void falloc_complete(napi_env env, napi_status status, void *data) {
  falloc_req *r = data;
  napi_value undef;
  if (status != napi_ok && r->err == 0) r->err = EIO;
  if (r->err == 0) {
    napi_get_undefined(env, &undef);
    napi_resolve_deferred(env, r->deferred, undef);
  } else {
    napi_reject_deferred(env, r->deferred, make_errno_error(env, r->err, "fallocate"));
  }
  napi_delete_async_work(env, r->work);
  free(r);
}

static napi_value do_fallocate(napi_env env, napi_callback_info info) {
  napi_value argv[4], promise, name;
  int64_t fd, mode, offset, length;
  if (!get_args(env, info, 4, argv) || !get_i64(env, argv[0], &fd) || !get_i64(env, argv[1], &mode) ||
      !get_i64(env, argv[2], &offset) || !get_i64(env, argv[3], &length))
    return NULL;
  falloc_req *r = calloc(1, sizeof *r);
  if (!r) {
    napi_throw_error(env, "ENOMEM", "fallocate: out of memory");
    return NULL;
  }
  r->fd = (int)fd;
  r->mode = (int)mode;
  r->offset = offset;
  r->length = length;
  CHECK(napi_create_promise(env, &r->deferred, &promise));
  CHECK(napi_create_string_utf8(env, "vdisk.fallocate", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_create_async_work(env, NULL, name, falloc_execute, falloc_complete, r, &r->work));
  CHECK(napi_queue_async_work(env, r->work));
  return promise;
}

/* ---- lseek SEEK_DATA / SEEK_HOLE ------------------------------------------------- */

/* Returns the new offset, or -1 for ENXIO (no more data past offset). */
static napi_value do_seek(napi_env env, napi_callback_info info) {
  napi_value argv[3], result;
  int64_t fd, offset, whence;
  if (!get_args(env, info, 3, argv) || !get_i64(env, argv[0], &fd) || !get_i64(env, argv[1], &offset) ||
      !get_i64(env, argv[2], &whence))
    return NULL;
  int w = whence == 3 ? SEEK_DATA : whence == 4 ? SEEK_HOLE : -1;
  if (w < 0) {
    napi_throw_range_error(env, "EINVAL", "seek: whence must be 3 (SEEK_DATA) or 4 (SEEK_HOLE)");
    return NULL;
  }
  off_t r = lseek((int)fd, (off_t)offset, w);
  if (r < 0) {
    if (errno == ENXIO) {
      CHECK(napi_create_int64(env, -1, &result));
      return result;
    }
    napi_throw(env, make_errno_error(env, errno, "lseek"));
    return NULL;
  }
  CHECK(napi_create_int64(env, (int64_t)r, &result));
  return result;
}

/* ---- access-pattern advice ------------------------------------------------------ */

/* fadviseRandom(fd): posix_fadvise(POSIX_FADV_RANDOM) on the whole file. Reads then bring in
 * exactly the pages asked for, with no readahead past them: for a reader that knows where the
 * data is (block status), readahead only fills the page cache with the holes between. It only
 * sets a flag on the open file, so it runs synchronously. */
static napi_value do_fadvise_random(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int64_t fd;
  if (!get_args(env, info, 1, argv) || !get_i64(env, argv[0], &fd)) return NULL;
  int rc = posix_fadvise((int)fd, 0, 0, POSIX_FADV_RANDOM);
  if (rc != 0) {
    napi_throw(env, make_errno_error(env, rc, "posix_fadvise"));
    return NULL;
  }
  return NULL;
}

/* ---- non-blocking page-cache I/O ------------------------------------------------ */

/* Bytes transferred (possibly fewer than asked); -2 when this file (its file system) does not
 * support RWF_NOWAIT for this direction at all, which will not change (ext4 refuses it for
 * buffered writes), so the caller stops asking; -1 for anything else: would block, or failed
 * (the caller repeats the transfer on the thread pool, which reports a real error properly). */
static napi_value rw_nowait(napi_env env, napi_callback_info info, int write) {
  napi_value argv[3], result;
  int64_t fd, offset;
  napi_typedarray_type type;
  size_t length;
  void *data;
  napi_value ab;
  size_t byte_offset;
  if (!get_args(env, info, 3, argv) || !get_i64(env, argv[0], &fd) || !get_i64(env, argv[2], &offset))
    return NULL;
  CHECK(napi_get_typedarray_info(env, argv[1], &type, &length, &data, &ab, &byte_offset));
  struct iovec iov = {data, length};
  ssize_t r;
  do {
    r = write ? pwritev2((int)fd, &iov, 1, (off_t)offset, RWF_NOWAIT)
              : preadv2((int)fd, &iov, 1, (off_t)offset, RWF_NOWAIT);
  } while (r < 0 && errno == EINTR);
  CHECK(napi_create_int64(env, r >= 0 ? (int64_t)r : errno == EOPNOTSUPP ? -2 : -1, &result));
  return result;
}

static napi_value do_read_nowait(napi_env env, napi_callback_info info) { return rw_nowait(env, info, 0); }
static napi_value do_write_nowait(napi_env env, napi_callback_info info) { return rw_nowait(env, info, 1); }

/* ---- OFD locks ------------------------------------------------------------------- */

static napi_value do_ofd_lock(napi_env env, napi_callback_info info) {
  napi_value argv[3], result;
  int64_t fd, offset;
  bool exclusive;
  if (!get_args(env, info, 3, argv) || !get_i64(env, argv[0], &fd) || !get_i64(env, argv[1], &offset))
    return NULL;
  CHECK(napi_get_value_bool(env, argv[2], &exclusive));
  struct flock fl = {0};
  fl.l_whence = SEEK_SET;
  fl.l_start = (off_t)offset;
  fl.l_len = 1;
  fl.l_type = exclusive ? F_WRLCK : F_RDLCK;
  if (fcntl((int)fd, F_OFD_SETLK, &fl) != 0) {
    if (errno == EAGAIN || errno == EACCES) {
      CHECK(napi_get_boolean(env, false, &result));
      return result;
    }
    napi_throw(env, make_errno_error(env, errno, "fcntl(F_OFD_SETLK)"));
    return NULL;
  }
  CHECK(napi_get_boolean(env, true, &result));
  return result;
}

static napi_value do_ofd_unlock(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int64_t fd, offset;
  if (!get_args(env, info, 2, argv) || !get_i64(env, argv[0], &fd) || !get_i64(env, argv[1], &offset))
    return NULL;
  struct flock fl = {0};
  fl.l_whence = SEEK_SET;
  fl.l_start = (off_t)offset;
  fl.l_len = 1;
  fl.l_type = F_UNLCK;
  if (fcntl((int)fd, F_OFD_SETLK, &fl) != 0) {
    napi_throw(env, make_errno_error(env, errno, "fcntl(F_OFD_SETLK)"));
    return NULL;
  }
  return NULL;
}

/* True when another open file description holds a lock on the byte (F_OFD_GETLK). */
static napi_value do_ofd_test(napi_env env, napi_callback_info info) {
  napi_value argv[2], result;
  int64_t fd, offset;
  if (!get_args(env, info, 2, argv) || !get_i64(env, argv[0], &fd) || !get_i64(env, argv[1], &offset))
    return NULL;
  struct flock fl = {0};
  fl.l_whence = SEEK_SET;
  fl.l_start = (off_t)offset;
  fl.l_len = 1;
  fl.l_type = F_WRLCK;
  if (fcntl((int)fd, F_OFD_GETLK, &fl) != 0) {
    napi_throw(env, make_errno_error(env, errno, "fcntl(F_OFD_GETLK)"));
    return NULL;
  }
  CHECK(napi_get_boolean(env, fl.l_type != F_UNLCK, &result));
  return result;
}

/* ---- statx STATX_DIOALIGN -------------------------------------------------------- */

static napi_value do_dio_align(napi_env env, napi_callback_info info) {
  napi_value argv[1], result, mem, off;
  int64_t fd;
  if (!get_args(env, info, 1, argv) || !get_i64(env, argv[0], &fd)) return NULL;
#ifdef STATX_DIOALIGN
  struct statx st;
  memset(&st, 0, sizeof st);
  if (statx((int)fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &st) != 0) {
    if (errno == ENOSYS || errno == EINVAL) {
      CHECK(napi_get_null(env, &result));
      return result;
    }
    napi_throw(env, make_errno_error(env, errno, "statx"));
    return NULL;
  }
  if (!(st.stx_mask & STATX_DIOALIGN)) {
    CHECK(napi_get_null(env, &result));
    return result;
  }
  CHECK(napi_create_object(env, &result));
  CHECK(napi_create_uint32(env, st.stx_dio_mem_align, &mem));
  CHECK(napi_create_uint32(env, st.stx_dio_offset_align, &off));
  CHECK(napi_set_named_property(env, result, "memAlign", mem));
  CHECK(napi_set_named_property(env, result, "offsetAlign", off));
  return result;
#else
  (void)fd;
  CHECK(napi_get_null(env, &result));
  return result;
#endif
}

/* ---- tcpCongestion ----------------------------------------------------------------- */

/* The kernel's TCP_CA_NAME_MAX, which no userspace header defines. */
#define CA_NAME_MAX 16

static napi_value do_tcp_congestion(napi_env env, napi_callback_info info) {
  napi_value argv[2] = {NULL, NULL}, result;
  size_t argc = 2;
  int64_t fd;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || !get_i64(env, argv[0], &fd)) {
    if (argc < 1) napi_throw_type_error(env, "EINVAL", "wrong number of arguments");
    return NULL;
  }
  char name[CA_NAME_MAX + 1];
  napi_valuetype type = napi_undefined;
  if (argc > 1) CHECK(napi_typeof(env, argv[1], &type));
  if (type == napi_string) {
    size_t len;
    CHECK(napi_get_value_string_utf8(env, argv[1], NULL, 0, &len));
    if (len == 0 || len >= CA_NAME_MAX) {
      /* Copying it into `name` would cut it, and the kernel would be asked for another name. */
      napi_throw_range_error(env, "EINVAL", "tcpCongestion: an algorithm name is 1 to 15 bytes");
      return NULL;
    }
    CHECK(napi_get_value_string_utf8(env, argv[1], name, sizeof name, &len));
    if (setsockopt((int)fd, IPPROTO_TCP, TCP_CONGESTION, name, (socklen_t)len) != 0) {
      napi_throw(env, make_errno_error(env, errno, "setsockopt(TCP_CONGESTION)"));
      return NULL;
    }
  }
  memset(name, 0, sizeof name);
  socklen_t size = CA_NAME_MAX;
  if (getsockopt((int)fd, IPPROTO_TCP, TCP_CONGESTION, name, &size) != 0) {
    napi_throw(env, make_errno_error(env, errno, "getsockopt(TCP_CONGESTION)"));
    return NULL;
  }
  CHECK(napi_create_string_utf8(env, name, strnlen(name, CA_NAME_MAX), &result));
  return result;
}

/* aio_engine.c: io_uring and Linux AIO engines. */
napi_status aio_register(napi_env env, napi_value exports);
/* sendfile.c: file-to-socket replies with sendfile(2). */
napi_status sendfile_register(napi_env env, napi_value exports);

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"allocAligned", NULL, alloc_aligned, NULL, NULL, NULL, napi_default, NULL},
      {"pageOffset", NULL, page_offset, NULL, NULL, NULL, napi_default, NULL},
      {"fallocate", NULL, do_fallocate, NULL, NULL, NULL, napi_default, NULL},
      {"seek", NULL, do_seek, NULL, NULL, NULL, napi_default, NULL},
      {"fadviseRandom", NULL, do_fadvise_random, NULL, NULL, NULL, napi_default, NULL},
      {"ofdLock", NULL, do_ofd_lock, NULL, NULL, NULL, napi_default, NULL},
      {"ofdUnlock", NULL, do_ofd_unlock, NULL, NULL, NULL, napi_default, NULL},
      {"ofdTest", NULL, do_ofd_test, NULL, NULL, NULL, napi_default, NULL},
      {"dioAlign", NULL, do_dio_align, NULL, NULL, NULL, napi_default, NULL},
      {"readNowait", NULL, do_read_nowait, NULL, NULL, NULL, napi_default, NULL},
      {"writeNowait", NULL, do_write_nowait, NULL, NULL, NULL, napi_default, NULL},
      {"tcpCongestion", NULL, do_tcp_congestion, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  if (aio_register(env, exports) != napi_ok) return NULL;
  if (sendfile_register(env, exports) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
