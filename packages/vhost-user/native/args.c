/* Argument parsing and small result helpers shared by every part of the addon. */
#include "common.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

int vu_live_mappings;
int vu_live_watchers;

void vu_count(int *counter, int delta) { __atomic_add_fetch(counter, delta, __ATOMIC_RELAXED); }

void vu_throw_last_error(napi_env env, const char *what) {
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) return;
  const napi_extended_error_info *info = NULL;
  napi_get_last_error_info(env, &info);
  char msg[256];
  snprintf(msg, sizeof msg, "vhost_user_os: %s failed: %s", what,
           info && info->error_message ? info->error_message : "unknown N-API error");
  napi_throw_error(env, NULL, msg);
}

static bool type_error(napi_env env, const char *name, const char *expected) {
  char msg[160];
  snprintf(msg, sizeof msg, "%s must be %s", name, expected);
  napi_throw_type_error(env, NULL, msg);
  return false;
}

bool vu_args(napi_env env, napi_callback_info info, size_t count, napi_value *argv,
             napi_value *self) {
  size_t argc = count;
  if (napi_get_cb_info(env, info, &argc, argv, self, NULL) != napi_ok) {
    vu_throw_last_error(env, "napi_get_cb_info");
    return false;
  }
  return true;
}

/* An integral JS number within [min, max]. */
static bool number_in_range(napi_env env, napi_value value, int64_t min, int64_t max,
                            int64_t *out) {
  napi_valuetype type;
  double d;
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_number) return false;
  if (napi_get_value_double(env, value, &d) != napi_ok) return false;
  if (!isfinite(d) || floor(d) != d || d < (double)min || d > (double)max) return false;
  *out = (int64_t)d;
  return true;
}

bool vu_arg_fd(napi_env env, napi_value value, const char *name, int *out) {
  int64_t v;
  if (!number_in_range(env, value, 0, INT32_MAX, &v))
    return type_error(env, name, "a file descriptor (a non-negative integer)");
  *out = (int)v;
  return true;
}

bool vu_arg_int(napi_env env, napi_value value, const char *name, int64_t min, int64_t max,
                int64_t *out) {
  if (number_in_range(env, value, min, max, out)) return true;
  char expected[96];
  snprintf(expected, sizeof expected, "an integer in [%lld, %lld]", (long long)min,
           (long long)max);
  return type_error(env, name, expected);
}

bool vu_arg_u64(napi_env env, napi_value value, const char *name, uint64_t *out) {
  napi_valuetype type;
  if (napi_typeof(env, value, &type) != napi_ok) return type_error(env, name, "a number");
  if (type == napi_bigint) {
    bool lossless = false;
    int sign = 0;
    size_t words = 1;
    uint64_t v = 0;
    /* napi_get_value_bigint_uint64 wraps negatives; read the sign explicitly. */
    if (napi_get_value_bigint_words(env, value, &sign, &words, &v) != napi_ok || sign != 0 ||
        napi_get_value_bigint_uint64(env, value, &v, &lossless) != napi_ok || !lossless)
      return type_error(env, name, "a bigint in [0, 2^64)");
    *out = v;
    return true;
  }
  int64_t v;
  if (!number_in_range(env, value, 0, (int64_t)9007199254740991LL, &v))
    return type_error(env, name, "a non-negative safe integer or a bigint");
  *out = (uint64_t)v;
  return true;
}

bool vu_arg_bool(napi_env env, napi_value value, const char *name, bool *out) {
  napi_valuetype type;
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_boolean ||
      napi_get_value_bool(env, value, out) != napi_ok)
    return type_error(env, name, "a boolean");
  return true;
}

bool vu_arg_path(napi_env env, napi_value value, const char *name, char *buf, size_t bufsize) {
  napi_valuetype type;
  size_t len = 0;
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_string ||
      napi_get_value_string_utf8(env, value, NULL, 0, &len) != napi_ok)
    return type_error(env, name, "a string");
  if (len == 0) return type_error(env, name, "a non-empty string");
  if (len >= bufsize) {
    char expected[64];
    snprintf(expected, sizeof expected, "at most %zu bytes long", bufsize - 1);
    return type_error(env, name, expected);
  }
  napi_get_value_string_utf8(env, value, buf, bufsize, &len);
  if (strlen(buf) != len) return type_error(env, name, "a string without NUL characters");
  return true;
}

bool vu_arg_bytes(napi_env env, napi_value value, const char *name, void **data, size_t *len) {
  bool is_typed = false;
  napi_typedarray_type type;
  if (napi_is_typedarray(env, value, &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, value, &type, len, data, NULL, NULL) != napi_ok ||
      type != napi_uint8_array)
    return type_error(env, name, "a Uint8Array");
  if (*len == 0 || *data == NULL) return type_error(env, name, "a non-empty Uint8Array");
  return true;
}

bool vu_arg_fds(napi_env env, napi_value value, const char *name, int *fds, size_t max,
                size_t *count) {
  bool is_array = false;
  uint32_t n = 0;
  char expected[64];
  snprintf(expected, sizeof expected, "an array of at most %zu file descriptors", max);
  if (napi_is_array(env, value, &is_array) != napi_ok || !is_array ||
      napi_get_array_length(env, value, &n) != napi_ok || n > max)
    return type_error(env, name, expected);
  for (uint32_t i = 0; i < n; i++) {
    napi_value item;
    if (napi_get_element(env, value, i, &item) != napi_ok) return type_error(env, name, expected);
    if (!vu_arg_fd(env, item, name, &fds[i])) return false;
  }
  *count = n;
  return true;
}

napi_value vu_int(napi_env env, int64_t value) {
  napi_value result;
  VU_CALL(env, napi_create_int64(env, value, &result));
  return result;
}

napi_value vu_errno(napi_env env) { return vu_int(env, -(int64_t)errno); }

napi_value vu_export(napi_env env, napi_value exports, const napi_property_descriptor *props,
                     size_t count) {
  VU_CALL(env, napi_define_properties(env, exports, count, props));
  return exports;
}
