/*
 * Unix stream sockets with descriptor passing, as a vhost-user backend needs them
 * (QEMU's chardev socket is the front-end; compare libvhost-user's vu_message_read).
 *
 * Every descriptor made here is close-on-exec and non-blocking, and every transfer passes
 * MSG_DONTWAIT, so no call can stall the event loop whatever mode a received fd is in.
 */
#include "common.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static bool arg_sockaddr(napi_env env, napi_value value, struct sockaddr_un *addr) {
  memset(addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  return vu_arg_path(env, value, "path", addr->sun_path, sizeof addr->sun_path);
}

static napi_value fail_and_close(napi_env env, int fd) {
  int e = errno;
  close(fd);
  return vu_int(env, -e);
}

/* listen(path, backlog) -> listening fd | -errno. A stale socket file at `path` is replaced. */
static napi_value js_listen(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  struct sockaddr_un addr;
  int64_t backlog;
  if (!vu_args(env, info, 2, argv, NULL) || !arg_sockaddr(env, argv[0], &addr) ||
      !vu_arg_int(env, argv[1], "backlog", 1, 4096, &backlog))
    return NULL;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return vu_errno(env);
  /* Only a socket is taken as stale: any other file at the path makes bind fail instead. */
  struct stat st;
  if (lstat(addr.sun_path, &st) == 0 && S_ISSOCK(st.st_mode)) unlink(addr.sun_path);
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) return fail_and_close(env, fd);
  if (listen(fd, (int)backlog) < 0) {
    int e = errno;
    close(fd);
    unlink(addr.sun_path);
    return vu_int(env, -e);
  }
  return vu_int(env, fd);
}

/* accept(fd) -> connected fd | -EAGAIN when no connection is pending | -errno. */
static napi_value js_accept(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int fd;
  if (!vu_args(env, info, 1, argv, NULL) || !vu_arg_fd(env, argv[0], "fd", &fd)) return NULL;
  int conn;
  do conn = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  while (conn < 0 && errno == EINTR);
  return conn < 0 ? vu_errno(env) : vu_int(env, conn);
}

/* connect(path) -> connected fd | -errno (-EAGAIN when the listener's backlog is full). */
static napi_value js_connect(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  struct sockaddr_un addr;
  if (!vu_args(env, info, 1, argv, NULL) || !arg_sockaddr(env, argv[0], &addr)) return NULL;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return vu_errno(env);
  int rc;
  do rc = connect(fd, (struct sockaddr *)&addr, sizeof addr);
  while (rc < 0 && errno == EINTR);
  return rc < 0 ? fail_and_close(env, fd) : vu_int(env, fd);
}

/* socketpair() -> [fd, fd] | -errno: two connected stream sockets. */
static napi_value js_socketpair(napi_env env, napi_callback_info info) {
  (void)info;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
    return vu_errno(env);
  napi_value result;
  if (napi_create_array_with_length(env, 2, &result) != napi_ok ||
      napi_set_element(env, result, 0, vu_int(env, sv[0])) != napi_ok ||
      napi_set_element(env, result, 1, vu_int(env, sv[1])) != napi_ok) {
    close(sv[0]);
    close(sv[1]);
    vu_throw_last_error(env, "socketpair result");
    return NULL;
  }
  return result;
}

/* The descriptors of all SCM_RIGHTS messages in `msg`, in order; returns how many. */
static size_t collect_fds(struct msghdr *msg, int *fds, size_t max) {
  size_t n = 0;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; i++) {
      int fd;
      memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      if (n < max) fds[n++] = fd;
      else close(fd);
    }
  }
  return n;
}

/*
 * recvmsg(fd, buf, maxFds) -> { bytes, fds, truncated } | -errno.
 * Reads at most buf.length bytes; `fds` are those that came with them (close-on-exec through
 * MSG_CMSG_CLOEXEC). `truncated` is MSG_CTRUNC: more than maxFds were sent and the kernel
 * closed the rest. bytes === 0 with no fds is end of stream; -EAGAIN means nothing to read.
 */
static napi_value js_recvmsg(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int fd;
  void *data;
  size_t len;
  int64_t max_fds;
  if (!vu_args(env, info, 3, argv, NULL) || !vu_arg_fd(env, argv[0], "fd", &fd) ||
      !vu_arg_bytes(env, argv[1], "buf", &data, &len) ||
      !vu_arg_int(env, argv[2], "maxFds", 0, VU_MAX_FDS, &max_fds))
    return NULL;
  union {
    char buf[CMSG_SPACE(VU_MAX_FDS * sizeof(int))];
    struct cmsghdr align;
  } control;
  struct iovec iov = {.iov_base = data, .iov_len = len};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
  if (max_fds > 0) {
    msg.msg_control = control.buf;
    msg.msg_controllen = CMSG_SPACE((size_t)max_fds * sizeof(int));
  }
  ssize_t n;
  do n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  while (n < 0 && errno == EINTR);
  if (n < 0) return vu_errno(env);

  int fds[VU_MAX_FDS];
  size_t nfds = max_fds > 0 ? collect_fds(&msg, fds, (size_t)max_fds) : 0;
  napi_value result, fd_array, truncated;
  bool ok = napi_create_object(env, &result) == napi_ok &&
            napi_create_array_with_length(env, nfds, &fd_array) == napi_ok &&
            napi_get_boolean(env, (msg.msg_flags & MSG_CTRUNC) != 0, &truncated) == napi_ok;
  for (size_t i = 0; ok && i < nfds; i++) {
    napi_value v = vu_int(env, fds[i]);
    ok = v && napi_set_element(env, fd_array, (uint32_t)i, v) == napi_ok;
  }
  napi_value bytes = ok ? vu_int(env, n) : NULL;
  ok = ok && bytes && napi_set_named_property(env, result, "bytes", bytes) == napi_ok &&
       napi_set_named_property(env, result, "fds", fd_array) == napi_ok &&
       napi_set_named_property(env, result, "truncated", truncated) == napi_ok;
  if (!ok) {
    /* The caller would never see these descriptors: do not leak them. */
    for (size_t i = 0; i < nfds; i++) close(fds[i]);
    vu_throw_last_error(env, "recvmsg result");
    return NULL;
  }
  return result;
}

/*
 * sendmsg(fd, buf, fds) -> bytes sent | -errno. The fds travel with the first byte; a short
 * count means the rest must be sent again without them. MSG_NOSIGNAL: a closed peer gives
 * -EPIPE instead of killing the process with SIGPIPE.
 */
static napi_value js_sendmsg(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int fd;
  void *data;
  size_t len, nfds;
  int fds[VU_MAX_FDS];
  if (!vu_args(env, info, 3, argv, NULL) || !vu_arg_fd(env, argv[0], "fd", &fd) ||
      !vu_arg_bytes(env, argv[1], "buf", &data, &len) ||
      !vu_arg_fds(env, argv[2], "fds", fds, VU_MAX_FDS, &nfds))
    return NULL;
  union {
    char buf[CMSG_SPACE(VU_MAX_FDS * sizeof(int))];
    struct cmsghdr align;
  } control;
  struct iovec iov = {.iov_base = data, .iov_len = len};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
  if (nfds > 0) {
    memset(control.buf, 0, sizeof control.buf);
    msg.msg_control = control.buf;
    msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
    memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
  }
  ssize_t n;
  do n = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
  while (n < 0 && errno == EINTR);
  return n < 0 ? vu_errno(env) : vu_int(env, n);
}

/* close(fd) -> 0 | -errno. Not retried on EINTR: on Linux the descriptor is gone anyway. */
static napi_value js_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int fd;
  if (!vu_args(env, info, 1, argv, NULL) || !vu_arg_fd(env, argv[0], "fd", &fd)) return NULL;
  return close(fd) < 0 ? vu_errno(env) : vu_int(env, 0);
}

napi_value vu_init_sockets(napi_env env, napi_value exports) {
  const napi_property_descriptor props[] = {
      VU_FN("listen", js_listen),         VU_FN("accept", js_accept),
      VU_FN("connect", js_connect),       VU_FN("socketpair", js_socketpair),
      VU_FN("recvmsg", js_recvmsg),       VU_FN("sendmsg", js_sendmsg),
      VU_FN("close", js_close),
  };
  return vu_export(env, exports, props, sizeof props / sizeof props[0]);
}
