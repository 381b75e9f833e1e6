/* JSON for `vdevkit stat|info|list --json` (docs/vmm.md, "Machine-readable output"). */
#ifndef TOOLS_JSON_OUT_H
#define TOOLS_JSON_OUT_H

#include <stdio.h>

/* `s` as a JSON string, quotes included: '"', '\\' and control bytes escaped, valid UTF-8
 * copied, and every byte that is not part of valid UTF-8 (a stray continuation byte, an
 * overlong form, a surrogate, beyond U+10FFFF, a cut sequence) written as \ufffd. NULL is
 * written as null. */
void json_string(FILE *out, const char *s);

#endif
