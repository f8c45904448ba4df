/*
 * timerfd: one-shot timers on CLOCK_MONOTONIC with nanosecond resolution. Node's own timers
 * work in milliseconds; a timerfd watched by the poll watcher (in its eventfd mode, since an
 * expired timerfd reads as an 8-byte count just like an eventfd) wakes the loop within
 * microseconds of the deadline. PreciseTimers (src/precise-timers.ts) multiplexes many timers
 * on one timerfd.
 */
#include "common.h"

#include <errno.h>
#include <sys/timerfd.h>
#include <time.h>

/* Largest delay accepted: 2^53 ns (~104 days), the last integer a JS number holds exactly. */
#define VU_MAX_DELAY_NS 9007199254740992LL

/* timerfd_create() -> fd | -errno: CLOCK_MONOTONIC, non-blocking, close-on-exec, disarmed. */
static napi_value js_timerfd_create(napi_env env, napi_callback_info info) {
  (void)info;
  int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  return fd < 0 ? vu_errno(env) : vu_int(env, fd);
}

/*
 * timerfd_settime(fd, delayNs) -> 0 | -errno: arms the timer to expire once, `delayNs` from now
 * (no interval); 0 disarms it. Either way the expiration count a read would return is reset,
 * so a readiness already reported for the old setting reads as -EAGAIN.
 */
static napi_value js_timerfd_settime(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int fd;
  int64_t delay;
  if (!vu_args(env, info, 2, argv, NULL) || !vu_arg_fd(env, argv[0], "fd", &fd) ||
      !vu_arg_int(env, argv[1], "delayNs", 0, VU_MAX_DELAY_NS, &delay))
    return NULL;
  struct itimerspec spec = {
      .it_interval = {0, 0},
      .it_value = {(time_t)(delay / 1000000000LL), (long)(delay % 1000000000LL)},
  };
  return vu_int(env, timerfd_settime(fd, 0, &spec, NULL) < 0 ? -(int64_t)errno : 0);
}

napi_value vu_init_timerfd(napi_env env, napi_value exports) {
  const napi_property_descriptor props[] = {
      VU_FN("timerfd_create", js_timerfd_create),
      VU_FN("timerfd_settime", js_timerfd_settime),
  };
  return vu_export(env, exports, props, sizeof props / sizeof props[0]);
}
