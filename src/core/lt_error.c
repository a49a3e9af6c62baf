/* lt_error.c — the thread-local error slot declared in lt_error.h. */
#include "lt_error.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char err_message[512];
static _Thread_local int err_arg;
static _Thread_local lt_status err_status;

lt_status lt_error_set(lt_status status, int arg, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err_message, sizeof err_message, fmt, ap);
  va_end(ap);
  err_arg = arg;
  err_status = status;
  return status;
}

const char *lt_error_message(void) { return err_message; }
int lt_error_arg(void) { return err_arg; }
lt_status lt_error_status(void) { return err_status; }
void lt_error_clear(void) { err_message[0] = 0; err_arg = 0; err_status = LT_OK; }
