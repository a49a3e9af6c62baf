/* lt_atomic_file.h — replacing a file so that readers see either the old
 * contents or the complete new contents, never a half-written file, even if
 * the process or the machine dies part-way (checkpoints are written with it).
 *
 * How: the bytes go to a temporary file in the same folder
 * ("<path>.tmp.<pid>.<counter>", so concurrent writers never collide), which
 * is fsync'ed, renamed over `path` (atomic on POSIX file systems) and then the
 * folder is fsync'ed so the rename itself survives a crash. On any failure the
 * temporary file is removed and an existing `path` is left untouched.
 *
 * Not for: appending, files shared between hosts over NFS-like file systems
 * that do not honour rename atomicity, or preserving the old file's owner and
 * permissions (the new file gets 0666 minus the umask).
 *
 * Two ways to use it:
 *   - lt_atomic_write(path, fn, ctx): fn writes through lt_atomic_file_write;
 *     if fn returns an error, nothing is replaced and fn's error is returned.
 *   - lt_atomic_file_begin / _write / _commit or _abort: for callers that
 *     produce the bytes over time. After begin succeeds, exactly one of
 *     commit or abort must be called; both free the handle. */
#ifndef LT_ATOMIC_FILE_H
#define LT_ATOMIC_FILE_H

#include <stddef.h>

#include "lt_error.h"

typedef struct lt_atomic_file lt_atomic_file;

/* Creates the temporary file next to `path`. */
lt_status lt_atomic_file_begin(const char *path, lt_atomic_file **out);
/* Appends bytes (buffered). After a failure every later write and the commit
 * fail with the same message; the caller still calls commit or abort. */
lt_status lt_atomic_file_write(lt_atomic_file *f, const void *buf, size_t n);
/* Flushes, syncs, renames over the target, syncs the folder; frees `f`.
 * On failure the temporary file is gone and the target is as it was (unless
 * only the final folder sync failed, which the message says). */
lt_status lt_atomic_file_commit(lt_atomic_file *f);
/* Discards everything written; removes the temporary file; frees `f`.
 * Leaves the current error message alone, so it can be used on error paths. */
void lt_atomic_file_abort(lt_atomic_file *f);
/* The path being replaced, for error messages of callers. */
const char *lt_atomic_file_path(const lt_atomic_file *f);

typedef lt_status (*lt_atomic_writer_fn)(lt_atomic_file *f, void *ctx);
/* begin + fn + commit, or abort if fn fails. */
lt_status lt_atomic_write(const char *path, lt_atomic_writer_fn fn, void *ctx);

/* Stale temporaries. A writer killed mid-write (SIGKILL, power loss) leaves
 * its temporary file behind, never a damaged `path`. This removes the
 * temporaries of `path` whose writer process no longer exists (kill(pid, 0)
 * says ESRCH); those of live processes (a concurrent writer) and of this
 * process are left alone. Best effort, for after a successful commit (lt.save
 * calls it): failures are ignored, the file itself is already in place.
 * Not handled: writers in another PID namespace or on another host sharing
 * the folder would look dead, so do not point such writers at one path. */
void lt_atomic_file_remove_stale(const char *path);

#endif
