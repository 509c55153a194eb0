/* Paths of file calls: absolute as given, relative against the workdir, and
 * resolved by the kernel inside the sandbox's own root, so `..` and symlinks
 * can only reach the sandbox's own files. Also fills file_info from lstat. */
#pragma once

#include <sys/stat.h>

#include "base/err.h"
#include "proto/msg.h"

/* The absolute path for a request path (checked with msg_check_path). */
int path_resolve(const char *workdir, const char *p, char **ret, struct runra_err **err);
/* The parent directory of an absolute path ("/" for "/x"). */
int path_parent(const char *abs, char **ret);
/* A canonical absolute path naming the same entry without following a final
 * symlink: realpath of the parent joined with the last component. Falls back
 * to abs when the parent cannot be resolved. For display only. */
int path_display(const char *abs, char **ret);
/* file_info for path from lstat (the symlink itself, with its target). */
int path_info(const char *abs, struct file_info *ret, struct runra_err **err);
/* file_info for an entry of an open directory whose display path is dir. */
int path_info_at(int dfd, const char *dir, const char *name, struct file_info *ret);
