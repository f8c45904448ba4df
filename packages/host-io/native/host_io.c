/*
 * host_io: the file facilities a raw image driver needs and Node.js lacks (compare QEMU's
 * block/file-posix.c): deallocating or zeroing a range with fallocate, and finding data and
 * holes with lseek(SEEK_DATA / SEEK_HOLE).
 *
 * fallocate may take long (it can write or free many extents and wait for the journal), so it
 * runs on the libuv thread pool through napi_create_async_work and reports to a callback on the
 * loop. lseek only consults the extent tree and returns at once; it is synchronous.
 *
 * preadv2/pwritev2 with RWF_NOWAIT are synchronous too: the kernel copies what is in the page
 * cache and returns -EAGAIN instead of waiting for the disk (or a lock), so a page-cached read
 * costs about a microsecond on the event loop instead of a thread-pool round trip.
 *
 * Every result is 0 (or an offset) on success and a negative errno on failure; a TypeError is
 * thrown only for an argument of the wrong type.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include <node_api.h>

#if defined(__linux__)
#include <linux/falloc.h>
#define HAVE_FALLOCATE 1
#endif

#if defined(__linux__) && defined(RWF_NOWAIT)
#define HAVE_RWF_NOWAIT 1
#endif

#ifndef IOV_MAX
#define IOV_MAX 1024
#endif

/* JS numbers are exact up to 2^53 - 1: offsets beyond it cannot be named from JS. */
#define MAX_SAFE_INTEGER 9007199254740991LL

typedef struct {
  napi_async_work work;
  napi_ref callback;
  int fd;
  int mode;
  int64_t offset;
  int64_t length;
  int result; /* 0 or -errno, written by the worker */
} fallocate_job;

static void throw_napi(napi_env env, const char *what) {
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) return;
  const napi_extended_error_info *info = NULL;
  napi_get_last_error_info(env, &info);
  char msg[256];
  snprintf(msg, sizeof msg, "host_io: %s failed: %s", what,
           info && info->error_message ? info->error_message : "unknown N-API error");
  napi_throw_error(env, NULL, msg);
}

static napi_value make_int(napi_env env, int64_t v) {
  napi_value result;
  if (napi_create_int64(env, v, &result) != napi_ok) {
    throw_napi(env, "napi_create_int64");
    return NULL;
  }
  return result;
}

static bool type_error(napi_env env, const char *name, const char *expected) {
  char msg[160];
  snprintf(msg, sizeof msg, "%s must be %s", name, expected);
  napi_throw_type_error(env, NULL, msg);
  return false;
}

/* An integral JS number within [min, max]. */
static bool arg_int(napi_env env, napi_value value, const char *name, int64_t min, int64_t max,
                    int64_t *out) {
  napi_valuetype type;
  double d;
  if (napi_typeof(env, value, &type) == napi_ok && type == napi_number &&
      napi_get_value_double(env, value, &d) == napi_ok && isfinite(d) && floor(d) == d &&
      d >= (double)min && d <= (double)max) {
    *out = (int64_t)d;
    return true;
  }
  char expected[96];
  snprintf(expected, sizeof expected, "an integer in [%lld, %lld]", (long long)min,
           (long long)max);
  return type_error(env, name, expected);
}

static bool arg_fd(napi_env env, napi_value value, int *out) {
  int64_t v;
  if (!arg_int(env, value, "fd", 0, INT32_MAX, &v)) return false;
  *out = (int)v;
  return true;
}

static bool get_args(napi_env env, napi_callback_info info, size_t count, napi_value *argv) {
  size_t argc = count;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) {
    throw_napi(env, "napi_get_cb_info");
    return false;
  }
  /* Missing arguments arrive as undefined and fail the type checks. */
  return true;
}

/* ---- fallocate on the thread pool ------------------------------------------------------- */

static void fallocate_execute(napi_env env, void *data) {
  (void)env;
  fallocate_job *job = data;
#ifdef HAVE_FALLOCATE
  int rc;
  do rc = fallocate(job->fd, job->mode, (off_t)job->offset, (off_t)job->length);
  while (rc < 0 && errno == EINTR);
  job->result = rc < 0 ? -errno : 0;
#else
  job->result = -EOPNOTSUPP;
#endif
}

static void fallocate_complete(napi_env env, napi_status status, void *data) {
  fallocate_job *job = data;
  napi_value callback = NULL, global, arg;
  /* napi_cancelled: the environment is going away; nobody is left to tell. */
  if (status == napi_ok && napi_get_reference_value(env, job->callback, &callback) == napi_ok &&
      callback != NULL && napi_get_global(env, &global) == napi_ok &&
      napi_create_int32(env, job->result, &arg) == napi_ok) {
    /* An exception thrown by the callback stays pending and N-API reports it as uncaught. */
    napi_call_function(env, global, callback, 1, &arg, NULL);
  }
  napi_delete_reference(env, job->callback);
  napi_delete_async_work(env, job->work);
  free(job);
}

/* (fd, offset, length, callback): queues fallocate(fd, mode, offset, length). */
static napi_value queue_fallocate(napi_env env, napi_callback_info info, int mode,
                                  const char *resource) {
  napi_value argv[4], name;
  int fd;
  int64_t offset, length;
  napi_valuetype type;
  if (!get_args(env, info, 4, argv) || !arg_fd(env, argv[0], &fd) ||
      !arg_int(env, argv[1], "offset", 0, MAX_SAFE_INTEGER, &offset) ||
      !arg_int(env, argv[2], "length", 0, MAX_SAFE_INTEGER, &length))
    return NULL;
  if (napi_typeof(env, argv[3], &type) != napi_ok || type != napi_function) {
    type_error(env, "callback", "a function");
    return NULL;
  }
  fallocate_job *job = calloc(1, sizeof *job);
  if (job == NULL) {
    napi_throw_error(env, NULL, "host_io: out of memory");
    return NULL;
  }
  job->fd = fd;
  job->mode = mode;
  job->offset = offset;
  job->length = length;
  if (napi_create_reference(env, argv[3], 1, &job->callback) != napi_ok) goto fail;
  if (napi_create_string_utf8(env, resource, NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, NULL, name, fallocate_execute, fallocate_complete, job,
                             &job->work) != napi_ok) {
    napi_delete_reference(env, job->callback);
    goto fail;
  }
  if (napi_queue_async_work(env, job->work) != napi_ok) {
    napi_delete_async_work(env, job->work);
    napi_delete_reference(env, job->callback);
    goto fail;
  }
  return NULL;
fail:
  throw_napi(env, resource);
  free(job);
  return NULL;
}

#ifdef HAVE_FALLOCATE
#define PUNCH_HOLE_MODE (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)
#define ZERO_RANGE_MODE FALLOC_FL_ZERO_RANGE
#else
#define PUNCH_HOLE_MODE 0
#define ZERO_RANGE_MODE 0
#endif

/* punchHole: deallocates; the range reads as zeroes and the file size is unchanged. */
static napi_value js_punch_hole(napi_env env, napi_callback_info info) {
  return queue_fallocate(env, info, PUNCH_HOLE_MODE, "host_io.punchHole");
}

/*
 * zeroRange: makes the range read as zeroes, keeping (or making) it allocated; extends the file
 * when the range ends past EOF. File systems without it give -EOPNOTSUPP: no fallback here.
 */
static napi_value js_zero_range(napi_env env, napi_callback_info info) {
  return queue_fallocate(env, info, ZERO_RANGE_MODE, "host_io.zeroRange");
}

/* ---- lseek ------------------------------------------------------------------------------ */

#if defined(SEEK_DATA) && defined(SEEK_HOLE)
#define HAVE_SEEK_DATA 1
#else
#define SEEK_DATA 3
#define SEEK_HOLE 4
#endif

static napi_value seek(napi_env env, napi_callback_info info, int whence) {
  napi_value argv[2];
  int fd;
  int64_t offset;
  if (!get_args(env, info, 2, argv) || !arg_fd(env, argv[0], &fd) ||
      !arg_int(env, argv[1], "offset", 0, MAX_SAFE_INTEGER, &offset))
    return NULL;
#ifdef HAVE_SEEK_DATA
  off_t r = lseek(fd, (off_t)offset, whence);
  return make_int(env, r < 0 ? -errno : (int64_t)r);
#else
  (void)whence;
  return make_int(env, -EOPNOTSUPP);
#endif
}

/* seekData(fd, offset) -> the first data byte at or after offset | -ENXIO past the data. */
static napi_value js_seek_data(napi_env env, napi_callback_info info) {
  return seek(env, info, SEEK_DATA);
}

/* seekHole(fd, offset) -> the first hole byte at or after offset (EOF counts) | -ENXIO past EOF. */
static napi_value js_seek_hole(napi_env env, napi_callback_info info) {
  return seek(env, info, SEEK_HOLE);
}

/* ---- preadv2 / pwritev2 with RWF_NOWAIT ------------------------------------------------ */

/* iovecs up to this count live on the stack; the common request has one or a few views. */
#define STACK_IOVS 64

/*
 * (fd, views: Uint8Array[], position) -> bytes transferred (may be short; 0 at EOF for reads) or
 * -errno: -EAGAIN when the data is not cached (or the write would block), -EOPNOTSUPP when the
 * file (system) does not do RWF_NOWAIT in that direction (e.g. buffered ext4 writes).
 */
static napi_value nowait_io(napi_env env, napi_callback_info info, bool write) {
  napi_value argv[3], elem, ab;
  int fd;
  int64_t position;
  uint32_t count;
  bool is_array;
  if (!get_args(env, info, 3, argv) || !arg_fd(env, argv[0], &fd)) return NULL;
  if (napi_is_array(env, argv[1], &is_array) != napi_ok || !is_array ||
      napi_get_array_length(env, argv[1], &count) != napi_ok) {
    type_error(env, "views", "an array of Uint8Array");
    return NULL;
  }
  if (count > IOV_MAX) {
    char msg[64];
    snprintf(msg, sizeof msg, "views must hold at most %d views (IOV_MAX)", IOV_MAX);
    napi_throw_range_error(env, NULL, msg);
    return NULL;
  }
  if (!arg_int(env, argv[2], "position", 0, MAX_SAFE_INTEGER, &position)) return NULL;

  struct iovec stack_iov[STACK_IOVS];
  struct iovec *iov = stack_iov;
  if (count > STACK_IOVS) {
    iov = malloc(count * sizeof *iov);
    if (iov == NULL) {
      napi_throw_error(env, NULL, "host_io: out of memory");
      return NULL;
    }
  }
  napi_value result = NULL;
  for (uint32_t i = 0; i < count; i++) {
    bool is_typed = false;
    napi_typedarray_type type;
    size_t length, byte_offset;
    void *data;
    if (napi_get_element(env, argv[1], i, &elem) != napi_ok ||
        napi_is_typedarray(env, elem, &is_typed) != napi_ok || !is_typed ||
        napi_get_typedarray_info(env, elem, &type, &length, &data, &ab, &byte_offset) != napi_ok ||
        type != napi_uint8_array) {
      char name[48];
      snprintf(name, sizeof name, "views[%u]", i);
      type_error(env, name, "a Uint8Array");
      goto out;
    }
    /* data already points at byte_offset; a detached buffer has length 0. */
    iov[i].iov_base = data;
    iov[i].iov_len = length;
  }
#ifdef HAVE_RWF_NOWAIT
  ssize_t r;
  do {
    r = write ? pwritev2(fd, iov, (int)count, (off_t)position, RWF_NOWAIT)
              : preadv2(fd, iov, (int)count, (off_t)position, RWF_NOWAIT);
  } while (r < 0 && errno == EINTR);
  result = make_int(env, r < 0 ? -errno : (int64_t)r);
#else
  (void)fd;
  (void)position;
  (void)write;
  result = make_int(env, -EOPNOTSUPP);
#endif
out:
  if (iov != stack_iov) free(iov);
  return result;
}

static napi_value js_preadv_nowait(napi_env env, napi_callback_info info) {
  return nowait_io(env, info, false);
}

static napi_value js_pwritev_nowait(napi_env env, napi_callback_info info) {
  return nowait_io(env, info, true);
}

/* strerror(errno) -> the C library's message; accepts the negative form used in results. */
static napi_value js_strerror(napi_env env, napi_callback_info info) {
  napi_value argv[1], result;
  int64_t e;
  if (!get_args(env, info, 1, argv) || !arg_int(env, argv[0], "errno", -4095, 4095, &e))
    return NULL;
  char buf[128];
  const char *msg = strerror_r((int)(e < 0 ? -e : e), buf, sizeof buf);
  if (napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &result) != napi_ok) {
    throw_napi(env, "napi_create_string_utf8");
    return NULL;
  }
  return result;
}

/* errno values of this host, so that callers need not assume Linux numbering. */
static bool export_errnos(napi_env env, napi_value exports) {
  static const struct {
    const char *name;
    int value;
  } table[] = {
      {"EAGAIN", EAGAIN}, {"EBADF", EBADF},   {"EBUSY", EBUSY},
      {"EINVAL", EINVAL}, {"EIO", EIO},
      {"ENODEV", ENODEV}, {"ENOSPC", ENOSPC}, {"ENOSYS", ENOSYS},         {"ENOTTY", ENOTTY},
      {"ENXIO", ENXIO},   {"ESPIPE", ESPIPE}, {"EOPNOTSUPP", EOPNOTSUPP}, {"EPERM", EPERM},
  };
  napi_value obj;
  if (napi_create_object(env, &obj) != napi_ok) return false;
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
    napi_value v;
    if (napi_create_int32(env, table[i].value, &v) != napi_ok ||
        napi_set_named_property(env, obj, table[i].name, v) != napi_ok)
      return false;
  }
  return napi_set_named_property(env, exports, "errno", obj) == napi_ok;
}

#define FN(name, fn) {name, NULL, fn, NULL, NULL, NULL, napi_enumerable, NULL}

NAPI_MODULE_INIT() {
  const napi_property_descriptor props[] = {
      FN("punchHole", js_punch_hole), FN("zeroRange", js_zero_range),
      FN("seekData", js_seek_data),   FN("seekHole", js_seek_hole),
      FN("strerror", js_strerror),    FN("preadvNowait", js_preadv_nowait),
      FN("pwritevNowait", js_pwritev_nowait),
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok ||
      !export_errnos(env, exports)) {
    throw_napi(env, "module init");
    return NULL;
  }
  return exports;
}
