/* Checks on ASL text decompiled by iasl, shared by the ACPI tests. */
#ifndef ASL_CHECK_H
#define ASL_CHECK_H

#include <stddef.h>
#include <stdint.h>

/* Writes DATA to DIR/NAME.dat, runs `iasl -d` on it and returns the decompiled text (static
 * storage, valid until the next call). Fails the current test when iasl is missing, reports
 * an error or warning, or flags a problem inside the text (bad checksums, invalid fields). */
const char *asl_disassemble(const char *dir, const char *name, const uint8_t *data, size_t len);

/* Fails the current Check test unless `dsl` contains `text`, runs of white space aside
 * (iasl's layout is not ours to test); the whole ASL goes to stderr on failure. */
void asl_must_contain(const char *dsl, const char *text);

#endif
