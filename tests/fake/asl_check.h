/* Checks on ASL text decompiled by iasl, shared by the ACPI tests. */
#ifndef ASL_CHECK_H
#define ASL_CHECK_H

/* Fails the current Check test unless `dsl` contains `text`, runs of white space aside
 * (iasl's layout is not ours to test); the whole ASL goes to stderr on failure. */
void asl_must_contain(const char *dsl, const char *text);

#endif
