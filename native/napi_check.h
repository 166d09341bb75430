/*
 * CHECK(call): an N-API call that failed throws a JS error naming the call and returns NULL from
 * the calling N-API function. Shared by the native helper's source files.
 */
#ifndef VDISK_NAPI_CHECK_H
#define VDISK_NAPI_CHECK_H

#define CHECK(call)                                                                      \
  do {                                                                                   \
    if ((call) != napi_ok) {                                                             \
      napi_throw_error(env, "EVDISKNATIVE", "N-API call failed: " #call);               \
      return NULL;                                                                       \
    }                                                                                    \
  } while (0)

#endif
