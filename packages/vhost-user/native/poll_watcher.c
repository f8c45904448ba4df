/*
 * Readiness watching through libuv's uv_poll on Node's own event loop (no threads). Node cannot
 * poll an arbitrary descriptor such as an eventfd by itself, and QEMU's kick eventfds are
 * O_NONBLOCK, so a backend must learn from epoll when they become readable.
 *
 * Lifetime: while a watcher is started its JS object is held strongly (like a Node socket it
 * keeps the loop alive and cannot be collected); when stopped it is held weakly. The callback
 * is kept alive by a non-enumerable, read-only property of that object, not by a strong native
 * reference, so that a callback which refers back to its watcher (as wrappers do) makes no cycle
 * through a GC root. A weak reference to the callback is what an event uses to reach it: no
 * property lookup per event, and it is valid as long as the object (which owns the property)
 * lives, which is always the case while events can arrive. The native
 * record is freed once both the uv handle is closed (uv_close callback) and the JS object is
 * finalized. An async environment cleanup hook closes handles still open when a worker or the
 * process shuts down, and Node waits for it: a worker unloads the addon afterwards, and a close
 * callback run after that would jump into unmapped code.
 */
#include "common.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include <uv.h>

typedef enum { W_NONE, W_OPEN, W_CLOSING, W_CLOSED } watcher_state;

/*
 * WATCH_EVENTFD: the descriptor is an eventfd; each readable event reads (resets) its counter
 * here and calls back only if it was non-zero. That saves the callback a second trip into the
 * addon, and a BigInt, per kick.
 */
typedef enum { WATCH_PLAIN = 0, WATCH_EVENTFD = 1 } watch_mode;

typedef struct {
  uv_poll_t handle;
  napi_env env;
  napi_ref self;     /* weak while stopped, strong while started */
  napi_ref callback; /* weak; the `callback` property of self owns it; NULL after close() */
  watch_mode mode;
  napi_async_context async;
  int events; /* UV_READABLE | UV_WRITABLE | UV_DISCONNECT; 0 when stopped */
  watcher_state state;
  napi_async_cleanup_hook_handle hook; /* registered from open to the end of the close */
  bool held;                           /* self has a reference count of 1 */
  bool finalized;                      /* the JS object is gone */
} watcher_t;

/* Set while watch() constructs an instance: the class is not constructible from JS. */
static _Thread_local bool constructing;

static void free_watcher(watcher_t *w) {
  free(w);
  vu_count(&vu_live_watchers, -1);
}

static void on_close(uv_handle_t *handle) {
  watcher_t *w = handle->data;
  w->state = W_CLOSED;
  if (w->hook) {
    napi_remove_async_cleanup_hook(w->hook); /* tells a shutting-down env we are done */
    w->hook = NULL;
  }
  if (w->finalized) free_watcher(w);
}

static void hold(watcher_t *w, bool strong) {
  if (w->held == strong || !w->self) return;
  uint32_t count;
  if (strong) napi_reference_ref(w->env, w->self, &count);
  else napi_reference_unref(w->env, w->self, &count);
  w->held = strong;
}

static void close_handle(watcher_t *w) {
  if (w->state != W_OPEN) return;
  uv_poll_stop(&w->handle);
  uv_close((uv_handle_t *)&w->handle, on_close);
  w->state = W_CLOSING;
}

static void cleanup_hook(napi_async_cleanup_hook_handle handle, void *arg) {
  (void)handle;
  close_handle(arg); /* a handle already closing removes the hook in on_close */
}

static const char CALLBACK_KEY[] = "callback";

/* Drops what belongs to the JS side; safe from a finalizer (no JS runs). */
static void release_js(watcher_t *w) {
  if (w->callback) {
    napi_delete_reference(w->env, w->callback);
    w->callback = NULL;
  }
  if (w->async) {
    napi_async_destroy(w->env, w->async);
    w->async = NULL;
  }
}

static void finalize_watcher(napi_env env, void *data, void *hint) {
  (void)hint;
  watcher_t *w = data;
  w->finalized = true;
  release_js(w);
  if (w->self) {
    napi_delete_reference(env, w->self);
    w->self = NULL;
  }
  close_handle(w);
  if (w->state != W_CLOSING) free_watcher(w);
}

/* Reads (resets) an eventfd counter: 1 if it was non-zero, 0 if it was already 0, -errno. */
static int consume_eventfd(int fd) {
  uint64_t value;
  ssize_t n;
  do n = read(fd, &value, sizeof value);
  while (n < 0 && errno == EINTR);
  if (n == sizeof value) return 1;
  if (n >= 0) return -EIO;
  return errno == EAGAIN ? 0 : -errno;
}

static void on_poll(uv_poll_t *handle, int status, int events) {
  watcher_t *w = handle->data;
  if (w->state != W_OPEN || !w->callback) return;
  if (status == 0 && w->mode == WATCH_EVENTFD && (events & UV_READABLE)) {
    int fd;
    status = uv_fileno((uv_handle_t *)handle, &fd);
    if (status == 0) status = consume_eventfd(fd);
    if (status == 0) return; /* someone else read it first: nothing to report */
    if (status > 0) status = 0;
    else uv_poll_stop(handle); /* a broken counter would fire forever: stop, like POLLERR */
  }
  napi_env env = w->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value self = NULL, callback = NULL, argv[2], result;
  /* Taken before hold() may weaken the reference: the stack handle keeps the object alive. */
  if (napi_get_reference_value(env, w->self, &self) != napi_ok) self = NULL;
  if (status < 0) {
    /* libuv has stopped the handle (uv__poll_io on POLLERR): mirror that. */
    w->events = 0;
    hold(w, false);
  }
  if (self && napi_get_reference_value(env, w->callback, &callback) == napi_ok && callback &&
      napi_create_int32(env, status, &argv[0]) == napi_ok &&
      napi_create_int32(env, status < 0 ? 0 : events, &argv[1]) == napi_ok) {
    /* make_callback, not call_function: it runs the microtasks the callback queued. */
    if (napi_make_callback(env, w->async, self, callback, 2, argv, &result) ==
        napi_pending_exception) {
      napi_value error;
      if (napi_get_and_clear_last_exception(env, &error) == napi_ok)
        napi_fatal_exception(env, error);
    }
  }
  napi_close_handle_scope(env, scope);
}

static bool arg_events(napi_env env, napi_value value, int *out) {
  int64_t events;
  if (!vu_arg_int(env, value, "events", 1, UV_READABLE | UV_WRITABLE | UV_DISCONNECT, &events))
    return false;
  *out = (int)events;
  return true;
}

/* Starts (or changes the events of) the handle; 0 | -errno. */
static int start(watcher_t *w, int events) {
  int rc = uv_poll_start(&w->handle, events, on_poll);
  if (rc < 0) return rc;
  w->events = events;
  hold(w, true);
  return 0;
}

static watcher_t *this_watcher(napi_env env, napi_callback_info info, size_t argc,
                               napi_value *argv) {
  napi_value self;
  void *data = NULL;
  if (!vu_args(env, info, argc, argv, &self)) return NULL;
  if (napi_unwrap(env, self, &data) != napi_ok || !data) {
    napi_throw_type_error(env, NULL, "not a PollWatcher");
    return NULL;
  }
  return data;
}

static watcher_t *open_watcher(napi_env env, napi_callback_info info, size_t argc,
                               napi_value *argv) {
  watcher_t *w = this_watcher(env, info, argc, argv);
  if (w && w->state != W_OPEN) {
    napi_throw_error(env, NULL, "PollWatcher is closed");
    return NULL;
  }
  return w;
}

/* watcher.start(events) -> 0 | -errno: watch for `events` (a mask) from now on. */
static napi_value js_start(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int events;
  watcher_t *w = open_watcher(env, info, 1, argv);
  if (!w || !arg_events(env, argv[0], &events)) return NULL;
  return vu_int(env, start(w, events));
}

/* watcher.stop() -> 0: no more callbacks until start(). */
static napi_value js_stop(napi_env env, napi_callback_info info) {
  watcher_t *w = open_watcher(env, info, 0, NULL);
  if (!w) return NULL;
  uv_poll_stop(&w->handle);
  w->events = 0;
  hold(w, false);
  return vu_int(env, 0);
}

/* watcher.close(): stops for good and releases the callback; idempotent. */
static napi_value js_close(napi_env env, napi_callback_info info) {
  napi_value self, key;
  bool deleted;
  void *data = NULL;
  if (!vu_args(env, info, 0, NULL, &self)) return NULL;
  if (napi_unwrap(env, self, &data) != napi_ok || !data) {
    napi_throw_type_error(env, NULL, "not a PollWatcher");
    return NULL;
  }
  watcher_t *w = data;
  w->events = 0;
  hold(w, false);
  if (w->callback) {
    VU_CALL(env, napi_create_string_utf8(env, CALLBACK_KEY, NAPI_AUTO_LENGTH, &key));
    VU_CALL(env, napi_delete_property(env, self, key, &deleted));
  }
  release_js(w);
  close_handle(w);
  return NULL;
}

/* watcher.setRef(bool): whether a started watcher keeps the event loop (the process) alive. */
static napi_value js_set_ref(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  bool ref;
  watcher_t *w = open_watcher(env, info, 1, argv);
  if (!w || !vu_arg_bool(env, argv[0], "ref", &ref)) return NULL;
  if (ref) uv_ref((uv_handle_t *)&w->handle);
  else uv_unref((uv_handle_t *)&w->handle);
  return NULL;
}

static napi_value js_constructor(napi_env env, napi_callback_info info) {
  napi_value self;
  if (!vu_args(env, info, 0, NULL, &self)) return NULL;
  if (!constructing) {
    napi_throw_type_error(env, NULL, "PollWatcher is made by watch(fd, events, callback)");
    return NULL;
  }
  watcher_t *w = calloc(1, sizeof *w);
  if (!w) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  w->env = env;
  if (napi_wrap(env, self, w, finalize_watcher, NULL, NULL) != napi_ok) {
    free(w);
    vu_throw_last_error(env, "napi_wrap");
    return NULL;
  }
  vu_count(&vu_live_watchers, 1);
  VU_CALL(env, napi_create_reference(env, self, 0, &w->self));
  return self;
}

/*
 * watch(fd, events, callback[, mode]) -> PollWatcher | -errno. `events` is a mask of 1 (readable),
 * 2 (writable) and 4 (disconnect); callback(status, events) runs on the event loop with status
 * 0 or a negative errno. uv_poll_init makes the descriptor non-blocking. Only one watcher per
 * descriptor, and the descriptor must stay open until the watcher is closed (libuv's rules).
 * `mode` 1 (WATCH_EVENTFD): readable events read the eventfd first and call back only for a
 * non-zero counter; a failed read stops the watcher and calls back with -errno.
 */
static napi_value js_watch(napi_env env, napi_callback_info info) {
  napi_value argv[4], ctor, obj, name;
  napi_valuetype cb_type, mode_type;
  int fd, events;
  int64_t mode = WATCH_PLAIN;
  if (!vu_args(env, info, 4, argv, NULL) || !vu_arg_fd(env, argv[0], "fd", &fd) ||
      !arg_events(env, argv[1], &events))
    return NULL;
  if (napi_typeof(env, argv[3], &mode_type) != napi_ok ||
      (mode_type != napi_undefined &&
       !vu_arg_int(env, argv[3], "mode", WATCH_PLAIN, WATCH_EVENTFD, &mode)))
    return NULL;
  if (napi_typeof(env, argv[2], &cb_type) != napi_ok || cb_type != napi_function) {
    napi_throw_type_error(env, NULL, "callback must be a function");
    return NULL;
  }
  napi_ref *ctor_ref = NULL;
  VU_CALL(env, napi_get_instance_data(env, (void **)&ctor_ref));
  VU_CALL(env, napi_get_reference_value(env, *ctor_ref, &ctor));
  constructing = true;
  napi_status st = napi_new_instance(env, ctor, 0, NULL, &obj);
  constructing = false;
  VU_CALL(env, st);
  watcher_t *w;
  VU_CALL(env, napi_unwrap(env, obj, (void **)&w));

  uv_loop_t *loop;
  VU_CALL(env, napi_get_uv_event_loop(env, &loop));
  int rc = uv_poll_init(loop, &w->handle, fd);
  if (rc < 0) return vu_int(env, rc); /* never opened: freed when the object is collected */
  w->handle.data = w;
  w->state = W_OPEN;
  VU_CALL(env, napi_add_async_cleanup_hook(env, cleanup_hook, w, &w->hook));
  /* Read-only, so the weak reference always names the function the property holds. */
  const napi_property_descriptor callback = {CALLBACK_KEY, NULL, NULL, NULL, NULL, argv[2],
                                             napi_configurable, NULL};
  VU_CALL(env, napi_define_properties(env, obj, 1, &callback));
  VU_CALL(env, napi_create_reference(env, argv[2], 0, &w->callback));
  w->mode = (watch_mode)mode;
  VU_CALL(env, napi_create_string_utf8(env, "VhostUserPollWatcher", NAPI_AUTO_LENGTH, &name));
  VU_CALL(env, napi_async_init(env, NULL, name, &w->async));
  rc = start(w, events);
  if (rc < 0) {
    release_js(w);
    close_handle(w);
    return vu_int(env, rc);
  }
  return obj;
}

static void finalize_ctor_ref(napi_env env, void *data, void *hint) {
  (void)hint;
  napi_ref *ref = data;
  napi_delete_reference(env, *ref);
  free(ref);
}

napi_value vu_init_poll(napi_env env, napi_value exports) {
  const napi_property_descriptor methods[] = {
      {"start", NULL, js_start, NULL, NULL, NULL, napi_default_method, NULL},
      {"stop", NULL, js_stop, NULL, NULL, NULL, napi_default_method, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_default_method, NULL},
      {"setRef", NULL, js_set_ref, NULL, NULL, NULL, napi_default_method, NULL},
  };
  napi_value ctor;
  VU_CALL(env, napi_define_class(env, "PollWatcher", NAPI_AUTO_LENGTH, js_constructor, NULL,
                                 sizeof methods / sizeof methods[0], methods, &ctor));
  napi_ref *ref = malloc(sizeof *ref);
  if (!ref) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  if (napi_create_reference(env, ctor, 1, ref) != napi_ok ||
      napi_set_instance_data(env, ref, finalize_ctor_ref, NULL) != napi_ok) {
    free(ref);
    vu_throw_last_error(env, "PollWatcher class");
    return NULL;
  }
  const napi_property_descriptor props[] = {VU_FN("watch", js_watch)};
  return vu_export(env, exports, props, 1);
}
