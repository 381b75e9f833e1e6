/* enum vdev_errc for a host error: what config_lex.c and the socket code report. */
#ifndef VDEV_CORE_ERRC_H
#define VDEV_CORE_ERRC_H

/* VDEV_E_NOENT, _PERM, _NOMEM, _EXIST, _BUSY for those errno values; VDEV_E_IO otherwise. */
int vdev_errc_from_errno(int e);

#endif
