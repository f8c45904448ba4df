/*
 * eventfd counters: the kick and call notifiers of vhost-user virtqueues
 * (VHOST_USER_SET_VRING_KICK / _CALL hand them over; QEMU creates them O_NONBLOCK).
 */
#include "common.h"

#include <errno.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* eventfd(initval, nonblock) -> fd | -errno. Always close-on-exec. */
static napi_value js_eventfd(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int64_t initval;
  bool nonblock;
  if (!vu_args(env, info, 2, argv, NULL) ||
      !vu_arg_int(env, argv[0], "initval", 0, UINT32_MAX, &initval) ||
      !vu_arg_bool(env, argv[1], "nonblock", &nonblock))
    return NULL;
  int fd = eventfd((unsigned int)initval, EFD_CLOEXEC | (nonblock ? EFD_NONBLOCK : 0));
  return fd < 0 ? vu_errno(env) : vu_int(env, fd);
}

/*
 * eventfd_read(fd) -> bigint | -errno: the counter, which the read resets to 0. A non-blocking
 * eventfd whose counter is 0 gives -EAGAIN; a blocking one would block the thread.
 */
static napi_value js_eventfd_read(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int fd;
  if (!vu_args(env, info, 1, argv, NULL) || !vu_arg_fd(env, argv[0], "fd", &fd)) return NULL;
  uint64_t value;
  ssize_t n;
  do n = read(fd, &value, sizeof value);
  while (n < 0 && errno == EINTR);
  if (n < 0) return vu_errno(env);
  if (n != sizeof value) return vu_int(env, -EIO);
  napi_value result;
  VU_CALL(env, napi_create_bigint_uint64(env, value, &result));
  return result;
}

/*
 * eventfd_write(fd, value) -> 0 | -errno: adds `value` (number or bigint) to the counter.
 * -EAGAIN when a non-blocking counter would pass 2^64 - 2; -EINVAL for 2^64 - 1.
 */
static napi_value js_eventfd_write(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int fd;
  uint64_t value;
  if (!vu_args(env, info, 2, argv, NULL) || !vu_arg_fd(env, argv[0], "fd", &fd) ||
      !vu_arg_u64(env, argv[1], "value", &value))
    return NULL;
  ssize_t n;
  do n = write(fd, &value, sizeof value);
  while (n < 0 && errno == EINTR);
  if (n < 0) return vu_errno(env);
  return vu_int(env, n == sizeof value ? 0 : -EIO);
}

napi_value vu_init_eventfd(napi_env env, napi_value exports) {
  const napi_property_descriptor props[] = {
      VU_FN("eventfd", js_eventfd),
      VU_FN("eventfd_read", js_eventfd_read),
      VU_FN("eventfd_write", js_eventfd_write),
  };
  return vu_export(env, exports, props, sizeof props / sizeof props[0]);
}
