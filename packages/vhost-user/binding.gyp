{
  "targets": [
    {
      "target_name": "vhost_user_os",
      "sources": [
        "native/vhost_user_os.c",
        "native/args.c",
        "native/sockets.c",
        "native/memory.c",
        "native/eventfd.c",
        "native/timerfd.c",
        "native/poll_watcher.c"
      ],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"],
      "cflags_c": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-fvisibility=hidden"]
    }
  ]
}
