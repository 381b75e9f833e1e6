/* Places a table so that the bytes right after its first `size` bytes are on a page nobody
 * may read: a library that reads past the size the program gave faults at once. */
#ifndef ABI_GUARD_H
#define ABI_GUARD_H

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Copies the first `size` bytes of `table` to the end of a readable page followed by an
 * inaccessible one, and returns the copy (never freed: tests only). */
static inline void *guarded_copy(const void *table, size_t size)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    char *p = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED || mprotect(p + page, page, PROT_NONE))
        abort();
    /* Tables hold pointers: keep the copy pointer-aligned, so end-of-size may fall a few
     * bytes before the guard page; sizes here are multiples of 8 and it does not. */
    char *t = p + page - size;
    memcpy(t, table, size);
    return t;
}

#endif
