/*
 * Shared helpers of the vhost-user OS addon: N-API status checks, argument parsing and the
 * counters of live native objects that the tests use to prove nothing leaks.
 *
 * Conventions (see README.md of the package):
 *  - a failing system call is a result, not an exception: the function returns -errno;
 *  - a bad argument (wrong type, out of range for its C type) throws a TypeError;
 *  - an N-API failure throws an Error (it means the addon itself is broken).
 */
#ifndef VHOST_USER_OS_COMMON_H
#define VHOST_USER_OS_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <node_api.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Linux limits one SCM_RIGHTS message to this many descriptors (SCM_MAX_FD). */
#define VU_MAX_FDS 253

/* Evaluates an N-API call; on failure throws (unless an exception is pending) and returns NULL. */
#define VU_CALL(env, call)                                                                         \
  do {                                                                                             \
    if ((call) != napi_ok) {                                                                       \
      vu_throw_last_error(env, #call);                                                             \
      return NULL;                                                                                 \
    }                                                                                              \
  } while (0)

void vu_throw_last_error(napi_env env, const char *what);

/* Fetches exactly `count` arguments (missing ones are `undefined`); false after throwing. */
bool vu_args(napi_env env, napi_callback_info info, size_t count, napi_value *argv, napi_value *self);

/* Each parser throws a TypeError naming `name` and returns false when the value does not fit. */
bool vu_arg_fd(napi_env env, napi_value value, const char *name, int *out);
bool vu_arg_int(napi_env env, napi_value value, const char *name, int64_t min, int64_t max,
                int64_t *out);
bool vu_arg_u64(napi_env env, napi_value value, const char *name, uint64_t *out);
bool vu_arg_bool(napi_env env, napi_value value, const char *name, bool *out);
/* Copies a string without NUL bytes into `buf`; false (after throwing) if it does not fit. */
bool vu_arg_path(napi_env env, napi_value value, const char *name, char *buf, size_t bufsize);
/* A non-empty Uint8Array (a Buffer is one): its first byte and length. */
bool vu_arg_bytes(napi_env env, napi_value value, const char *name, void **data, size_t *len);
/* An array of at most `max` descriptors. */
bool vu_arg_fds(napi_env env, napi_value value, const char *name, int *fds, size_t max,
                size_t *count);

napi_value vu_int(napi_env env, int64_t value);
/* -errno of the last failed system call, as a JS number. */
napi_value vu_errno(napi_env env);

/* Live native objects, for leak tests (`debug_counts()`). */
void vu_count(int *counter, int delta);
extern int vu_live_mappings;
extern int vu_live_watchers;

/* Each module part adds its functions to `exports`. */
napi_value vu_init_sockets(napi_env env, napi_value exports);
napi_value vu_init_memory(napi_env env, napi_value exports);
napi_value vu_init_eventfd(napi_env env, napi_value exports);
napi_value vu_init_timerfd(napi_env env, napi_value exports);
napi_value vu_init_poll(napi_env env, napi_value exports);

/* Defines the functions of one module part on `exports`; returns `exports` (NULL after throwing). */
napi_value vu_export(napi_env env, napi_value exports, const napi_property_descriptor *props,
                     size_t count);
#define VU_FN(name, fn)                                                                            \
  { name, NULL, fn, NULL, NULL, NULL, napi_enumerable, NULL }

#endif
