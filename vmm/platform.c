/* Which platforms this build describes (vmm/platform.h). */
#include "platform.h"

#include <string.h>

const struct vmm_platform *vmm_platform_native(void)
{
#if defined(__x86_64__)
    return &vmm_platform_x86;
#elif defined(__aarch64__)
    return &vmm_platform_arm64;
#else
    return NULL;
#endif
}

const struct vmm_platform *vmm_platform_find(const char *name)
{
#if defined(__x86_64__)
    if (strcmp(name, vmm_platform_x86.name) == 0)
        return &vmm_platform_x86;
#endif
    if (strcmp(name, vmm_platform_arm64.name) == 0)
        return &vmm_platform_arm64;
    return NULL;
}
