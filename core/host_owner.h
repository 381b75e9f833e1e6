/* Host objects and folders that already exist are used only when they are ours: owned by
 * this process's effective user or by root, and not writable by anyone else. Another local
 * user who makes a name first (a /dev/shm object, a run-time folder, a symbolic link) must
 * not get our guest's memory or our sockets. See docs/security.md ("Host objects and
 * folders").
 *
 * A static library (vdev_host_owner) shared by libvdev, the shmem host objects, the peer link
 * and vdevkit; its symbols are hidden so that each copy stays private to its binary. */
#ifndef VDEVKIT_HOST_OWNER_H
#define VDEVKIT_HOST_OWNER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#define HOST_OWNER_API __attribute__((visibility("hidden")))

/* Our effective uid or root. */
HOST_OWNER_API bool host_owner_trusted(uid_t uid);

/* "uid 65534 (nobody)"; "uid 1234 (?)" when the user has no name. */
HOST_OWNER_API void host_owner_describe(uid_t uid, char *buf, size_t len);

/* Checks the file open as `fd` (named `path` in messages; fstat, so no race with the open):
 * a regular file (or, with want_sock, a socket) owned by a trusted uid whose permission bits
 * hold none of `forbid` (e.g. S_IWGRP | S_IWOTH). Returns 0, or -1 with `why` = one line
 * naming the path, its owner or mode, and then `hint` in parentheses when not NULL. */
HOST_OWNER_API int host_owner_check_stat(const struct stat *st, const char *path, mode_t forbid,
                                         const char *hint, char *why, size_t len);
HOST_OWNER_API int host_owner_check_fd(int fd, const char *path, mode_t forbid, const char *hint,
                                       char *why, size_t len);

/* Opens the folder `path` (O_DIRECTORY | O_NOFOLLOW one component at a time from "/", a
 * relative path from the current folder's real path), making missing components with
 * mkdirat(`mode`) when `create`. Every component must be owned by a trusted uid and not
 * writable by group or others, except a sticky one (like /tmp or /dev/shm) that is not the
 * last; with `sticky_last` the last may be sticky too (the caller then checks the owner of
 * each entry it uses there). A symbolic link is followed only when a trusted uid owns it
 * (/var/run -> /run). Returns the folder's fd (O_CLOEXEC), or -1 with `why` as above. */
HOST_OWNER_API int host_owner_open_dir(const char *path, bool create, mode_t mode, bool sticky_last,
                                       const char *hint, char *why, size_t len);

/* host_owner_open_dir for the folder that holds `path` (its last component is a file name),
 * made when missing with `create` (mkdir -p): 0, or -1 with `why`. */
HOST_OWNER_API int host_owner_check_parent(const char *path, bool create, mode_t mode,
                                           bool sticky_last, const char *hint, char *why,
                                           size_t len);

#endif
