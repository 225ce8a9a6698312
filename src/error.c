/*
 * error.c - version and error messages. No shared state.
 */
#include <errno.h>
#include <string.h>

#include "uvma.h"

#define STR2(x) #x
#define STR(x)	STR2(x)

const char *uvma_version(void)
{
	return STR(UVMA_VERSION_MAJOR) "." STR(UVMA_VERSION_MINOR) "." STR(
		UVMA_VERSION_PATCH);
}

const char *uvma_strerror(int err)
{
	if (err < 0)
		err = -err;
	switch (err) {
	case 0:
		return "success";
	case EINVAL:
		return "invalid argument (range empty, inverted or unaligned, "
		       "or an unknown flag)";
	case ENOMEM:
		return "out of memory, or no free range large enough";
	case EEXIST:
		return "the range is already mapped";
	case EFAULT:
		return "no area maps this address";
	case EACCES:
		return "the area's protection forbids this access";
	case EAGAIN:
		return "resource temporarily unavailable";
	case EBADF:
		return "a file mapping needs a file id";
	case EOVERFLOW:
		return "the file offset plus the length overflows";
	case EUCLEAN:
		return "internal structure is inconsistent";
	default:
		/* strerror() of glibc returns a static string for known
		 * codes; uvma never returns others. */
		return "unknown error";
	}
}
