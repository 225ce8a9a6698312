/*
 * uvma.h - the public interface of uvma, a userspace address space with
 * Linux's per-VMA locking (see README.md and docs/).
 *
 * Conventions, for every call in this header:
 * - Results are 0 (or a non-negative value where said) on success, or a
 *   negative errno. uvma_strerror() turns one into a message.
 * - Handles are opaque and come in create/destroy pairs; the creator owns
 *   what create returns until it passes it to destroy.
 * - Each function's comment states its locking and RCU context.
 */
#ifndef UVMA_H
#define UVMA_H

#ifdef __cplusplus
extern "C" {
#endif

#define UVMA_VERSION_MAJOR 0
#define UVMA_VERSION_MINOR 1
#define UVMA_VERSION_PATCH 0

/*
 * The library's version as "MAJOR.MINOR.PATCH". Any context; the string is
 * static and owned by the library.
 */
const char *uvma_version(void);

/*
 * A message for a result of a uvma call: err is 0 or a negative errno (a
 * positive errno is accepted too). Any context; the string is static and
 * owned by the library, never NULL.
 */
const char *uvma_strerror(int err);

#ifdef __cplusplus
}
#endif

#endif
