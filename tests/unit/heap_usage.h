/* Bytes the process has allocated now, for tests that a guest cannot grow host memory:
 * malloc's statistics, or ASan's allocator's under ASan (gcc ships no header for it). */
#ifndef HEAP_USAGE_H
#define HEAP_USAGE_H

#include <stddef.h>

#if defined(__SANITIZE_ADDRESS__)
size_t __sanitizer_get_current_allocated_bytes(void);
static inline size_t heap_in_use(void)
{
    return __sanitizer_get_current_allocated_bytes();
}
#else
#include <malloc.h>
static inline size_t heap_in_use(void)
{
    return mallinfo2().uordblks;
}
#endif

/* Growth from `before` to now, 0 if it shrank. */
static inline size_t heap_growth(size_t before)
{
    size_t now = heap_in_use();
    return now > before ? now - before : 0;
}

#endif
