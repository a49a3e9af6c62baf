/* lt_error.h — how the C core reports failure without touching Lua.
 *
 * Every fallible core function returns an lt_status and, on failure, leaves a
 * message in a thread-local buffer (lt_error_set). The message is the part a
 * Lua error would put in parentheses ("shape [3,5] is incompatible with 12
 * elements"); the glue adds "bad argument #N to 'fn'". `arg` is the 1-based
 * position of the offending argument in the Lua-facing call (the tensor a
 * method is called on is #1), or 0 when no single argument is to blame.
 * The core never longjmps and never aborts on bad input. */
#ifndef LT_ERROR_H
#define LT_ERROR_H

#include "lt_cdefs.h"

LT_BEGIN_DECLS

typedef enum {
  LT_OK = 0,
  LT_ERR_ARG,     /* an argument is invalid: wrong shape, dtype, range */
  LT_ERR_OOM,     /* an allocation failed */
  LT_ERR_IO,      /* a file could not be read or written, or is corrupt */
  LT_ERR_RUNTIME  /* anything else: a device error, an unsupported case */
} lt_status;

#if defined(__GNUC__)
#define LT_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define LT_PRINTF(a, b)
#endif

/* Records a message and returns `status`, so callers write
 *   return lt_error_set(LT_ERR_ARG, 2, "expected ...");  */
lt_status lt_error_set(lt_status status, int arg, const char *fmt, ...) LT_PRINTF(3, 4);
const char *lt_error_message(void);
int lt_error_arg(void);
lt_status lt_error_status(void);
void lt_error_clear(void);

/* Propagates a failure: `LT_TRY(lt_foo(...));` */
#define LT_TRY(expr) do { lt_status lt_try_s_ = (expr); if (lt_try_s_ != LT_OK) return lt_try_s_; } while (0)

LT_END_DECLS

#endif
