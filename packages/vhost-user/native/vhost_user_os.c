/*
 * vhost_user_os: the operating-system pieces a vhost-user backend needs and Node lacks —
 * unix sockets with SCM_RIGHTS, memfd mapping into ArrayBuffers, eventfds, timerfds and
 * readiness watching on the libuv loop. The protocol itself lives in TypeScript on top of this.
 *
 * Parts: sockets.c, memory.c, eventfd.c, timerfd.c, poll_watcher.c; argument helpers in args.c.
 */
#include "common.h"

#include <string.h>

/* strerror(errno) -> the C library's message; accepts the negative form used in results. */
static napi_value js_strerror(napi_env env, napi_callback_info info) {
  napi_value argv[1], result;
  int64_t e;
  if (!vu_args(env, info, 1, argv, NULL) ||
      !vu_arg_int(env, argv[0], "errno", -4095, 4095, &e))
    return NULL;
  char buf[128];
  const char *msg = strerror_r((int)(e < 0 ? -e : e), buf, sizeof buf);
  VU_CALL(env, napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &result));
  return result;
}

/* debug_counts() -> { mappings, watchers }: native objects still alive, for leak tests. */
static napi_value js_debug_counts(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value result;
  VU_CALL(env, napi_create_object(env, &result));
  VU_CALL(env, napi_set_named_property(
                   env, result, "mappings",
                   vu_int(env, __atomic_load_n(&vu_live_mappings, __ATOMIC_RELAXED))));
  VU_CALL(env, napi_set_named_property(
                   env, result, "watchers",
                   vu_int(env, __atomic_load_n(&vu_live_watchers, __ATOMIC_RELAXED))));
  return result;
}

NAPI_MODULE_INIT() {
  const napi_property_descriptor props[] = {
      VU_FN("strerror", js_strerror),
      VU_FN("debug_counts", js_debug_counts),
  };
  if (!vu_export(env, exports, props, sizeof props / sizeof props[0]) ||
      !vu_init_sockets(env, exports) || !vu_init_memory(env, exports) ||
      !vu_init_eventfd(env, exports) || !vu_init_timerfd(env, exports) ||
      !vu_init_poll(env, exports))
    return NULL;
  return exports;
}
