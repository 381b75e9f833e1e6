/* heap_usage.h, compiled once into test_support (with the tests' sanitizer flags). */
#include "heap_usage.h"

#if defined(__SANITIZE_ADDRESS__)
size_t __sanitizer_get_current_allocated_bytes(void); /* gcc ships no header for it */
size_t heap_in_use(void)
{
    return __sanitizer_get_current_allocated_bytes();
}
#else
#include <malloc.h>
size_t heap_in_use(void)
{
    return mallinfo2().uordblks;
}
#endif

size_t heap_growth(size_t before)
{
    size_t now = heap_in_use();
    return now > before ? now - before : 0;
}
