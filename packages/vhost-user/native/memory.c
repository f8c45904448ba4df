/*
 * Shared memory: memfd creation (for tests) and mapping of a file region into an ArrayBuffer,
 * which is how a vhost-user backend sees guest RAM after VHOST_USER_SET_MEM_TABLE
 * (libvhost-user's vu_set_mem_table_exec maps each region the same way).
 *
 * The ArrayBuffer is external: V8 does not own the memory, the finalizer munmaps it when the
 * buffer is collected. `unmap` detaches the buffer first (views become empty, so no access to
 * unmapped memory is possible) and then munmaps; the later finalizer then only frees its record.
 */
#include "common.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct mapping {
  void *base;    /* what mmap returned (page aligned) */
  size_t maplen; /* length given to mmap */
  void *data;    /* first byte of the ArrayBuffer: base + (offset % page size) */
  bool mapped;
  bool listed;
  int refs; /* the creating call and the finalizer; the record is freed when both let go */
  struct mapping *prev, *next;
} mapping_t;

/* Every live record, so that `unmap` can find the one behind an ArrayBuffer. Finalizers of
 * buffers of worker threads run on those threads, hence the lock. */
static mapping_t *mappings;
static pthread_mutex_t mappings_lock = PTHREAD_MUTEX_INITIALIZER;

/* Unmaps (if still mapped), unlists and drops one reference; call with the lock held.
 * Returns true when the caller must free the record. */
static bool release_locked(mapping_t *m) {
  if (m->mapped) {
    munmap(m->base, m->maplen);
    m->mapped = false;
    vu_count(&vu_live_mappings, -1);
  }
  if (m->listed) {
    if (m->prev) m->prev->next = m->next;
    else mappings = m->next;
    if (m->next) m->next->prev = m->prev;
    m->listed = false;
  }
  return --m->refs == 0;
}

static void release(mapping_t *m) {
  pthread_mutex_lock(&mappings_lock);
  bool last = release_locked(m);
  pthread_mutex_unlock(&mappings_lock);
  if (last) free(m);
}

static void finalize_mapping(napi_env env, void *data, void *hint) {
  (void)env;
  (void)data;
  release(hint);
}

/* memfd_create(name, size) -> fd | -errno: an anonymous shared file of `size` bytes. */
static napi_value js_memfd_create(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  char name[250];
  uint64_t size;
  if (!vu_args(env, info, 2, argv, NULL) || !vu_arg_path(env, argv[0], "name", name, sizeof name) ||
      !vu_arg_u64(env, argv[1], "size", &size))
    return NULL;
  int fd = memfd_create(name, MFD_CLOEXEC);
  if (fd < 0) return vu_errno(env);
  if (ftruncate(fd, (off_t)size) < 0) {
    int e = errno;
    close(fd);
    return vu_int(env, -e);
  }
  return vu_int(env, fd);
}

/*
 * mmap(fd, size, offset, writable) -> ArrayBuffer | -errno. Writable: MAP_SHARED, so writes are
 * seen by every other mapping of the file. Not writable: MAP_PRIVATE copy-on-write, never
 * PROT_READ alone, since JS cannot be stopped from writing to an ArrayBuffer and a write to a
 * read-only page would kill the process; such writes stay private and the file is untouched.
 * `offset` need not be page aligned. A range that reaches past
 * the end of a regular file is refused with -EINVAL: touching it would raise SIGBUS.
 * A buffer the JS engine cannot hold (Node 20 caps Buffers at 4 GiB) gives -EFBIG.
 */
static napi_value js_mmap(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  int fd;
  uint64_t size, offset;
  bool writable;
  if (!vu_args(env, info, 4, argv, NULL) || !vu_arg_fd(env, argv[0], "fd", &fd) ||
      !vu_arg_u64(env, argv[1], "size", &size) || !vu_arg_u64(env, argv[2], "offset", &offset) ||
      !vu_arg_bool(env, argv[3], "writable", &writable))
    return NULL;
  uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
  uint64_t delta = offset % page;
  uint64_t aligned = offset - delta;
  if (size == 0 || size > SIZE_MAX - delta || offset > UINT64_MAX - size ||
      offset + size > (uint64_t)INT64_MAX)
    return vu_int(env, -EINVAL);
  struct stat st;
  if (fstat(fd, &st) < 0) return vu_errno(env);
  if (S_ISREG(st.st_mode) && offset + size > (uint64_t)st.st_size) return vu_int(env, -EINVAL);

  mapping_t *m = calloc(1, sizeof *m);
  if (!m) return vu_int(env, -ENOMEM);
  m->maplen = (size_t)(size + delta);
  m->base = mmap(NULL, m->maplen, PROT_READ | PROT_WRITE, writable ? MAP_SHARED : MAP_PRIVATE, fd,
                 (off_t)aligned);
  if (m->base == MAP_FAILED) {
    int e = errno;
    free(m);
    return vu_int(env, -e);
  }
  m->data = (char *)m->base + delta;
  m->mapped = true;
  m->refs = 2;
  vu_count(&vu_live_mappings, 1);

  napi_value buffer;
  if (napi_create_external_arraybuffer(env, m->data, (size_t)size, finalize_mapping, m,
                                       &buffer) != napi_ok) {
    /* The engine refused the size; report it as a result, not as an exception. Whether Node
     * still calls the finalizer on this path differs between versions, hence the references. */
    napi_value ignored;
    bool pending = false;
    if (napi_is_exception_pending(env, &pending) == napi_ok && pending)
      napi_get_and_clear_last_exception(env, &ignored);
    release(m);
    return vu_int(env, -EFBIG);
  }
  pthread_mutex_lock(&mappings_lock);
  m->next = mappings;
  if (mappings) mappings->prev = m;
  mappings = m;
  m->listed = true;
  m->refs--; /* the finalizer's reference is the one left */
  pthread_mutex_unlock(&mappings_lock);
  return buffer;
}

/*
 * unmap(buffer) -> 0 | -errno: detaches an ArrayBuffer made by mmap and unmaps its memory now.
 * Unmapping a buffer that is already detached does nothing; any other ArrayBuffer is a TypeError.
 */
static napi_value js_unmap(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  bool is_ab = false, detached = false;
  if (!vu_args(env, info, 1, argv, NULL)) return NULL;
  if (napi_is_arraybuffer(env, argv[0], &is_ab) != napi_ok || !is_ab) {
    napi_throw_type_error(env, NULL, "buffer must be an ArrayBuffer returned by mmap");
    return NULL;
  }
  VU_CALL(env, napi_is_detached_arraybuffer(env, argv[0], &detached));
  if (detached) return vu_int(env, 0);
  void *data;
  size_t len;
  VU_CALL(env, napi_get_arraybuffer_info(env, argv[0], &data, &len));

  /* Claim the mapping before detaching: the finalizer may run as soon as the buffer lets go
   * of its memory, and must then leave the munmap to us. */
  void *base = NULL;
  size_t maplen = 0;
  mapping_t *found = NULL;
  pthread_mutex_lock(&mappings_lock);
  for (mapping_t *m = mappings; m; m = m->next) {
    if (m->mapped && m->data == data) {
      found = m;
      m->mapped = false;
      base = m->base;
      maplen = m->maplen;
      break;
    }
  }
  pthread_mutex_unlock(&mappings_lock);
  if (!found) {
    napi_throw_type_error(env, NULL, "buffer must be an ArrayBuffer returned by mmap");
    return NULL;
  }
  if (napi_detach_arraybuffer(env, argv[0]) != napi_ok) {
    /* Still attached, so the record is still alive: give the mapping back to it. */
    pthread_mutex_lock(&mappings_lock);
    found->mapped = true;
    pthread_mutex_unlock(&mappings_lock);
    vu_throw_last_error(env, "napi_detach_arraybuffer");
    return NULL;
  }
  vu_count(&vu_live_mappings, -1);
  return munmap(base, maplen) < 0 ? vu_errno(env) : vu_int(env, 0);
}

napi_value vu_init_memory(napi_env env, napi_value exports) {
  const napi_property_descriptor props[] = {
      VU_FN("memfd_create", js_memfd_create),
      VU_FN("mmap", js_mmap),
      VU_FN("unmap", js_unmap),
  };
  return vu_export(env, exports, props, sizeof props / sizeof props[0]);
}
