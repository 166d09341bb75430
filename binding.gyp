{
  "targets": [
    {
      "target_name": "vdisk_native",
      "sources": ["native/vdisk_native.c", "native/aio_engine.c", "native/sendfile.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-std=gnu11"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
