/* How old a temporary object of a dead creator must be before `list` removes it: a minute
 * (a pid of another pid namespace may look dead; a minute is far longer than any creation).
 * Alone in its file so that a test can define a shorter age (link-time substitution). */
#include "shm_object_internal.h"

int shm_tmp_reap_age_s(void)
{
    return 60;
}
