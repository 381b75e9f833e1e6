/* Bytes the process has allocated now, for tests that a guest cannot grow host memory:
 * malloc's statistics, or ASan's allocator's under ASan (heap_usage.c). */
#ifndef HEAP_USAGE_H
#define HEAP_USAGE_H

#include <stddef.h>

size_t heap_in_use(void);
/* Growth from `before` to now, 0 if it shrank. */
size_t heap_growth(size_t before);

#endif
