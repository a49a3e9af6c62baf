/* lt_test.h — the few assertions the C unit tests use. Each test program
 * calls LT_CHECK/LT_CHECK_CLOSE as it goes and ends with `return lt_test_done();`,
 * which prints "N passed, N failed" and returns non-zero if anything failed,
 * so ctest counts the program as failed. Including it also starts the
 * runtime as the Lua glue does: the CPU backend is registered before main(). */
#ifndef LT_TEST_H
#define LT_TEST_H

#include <math.h>
#include <stdio.h>

#include "lt_cpu.h"

__attribute__((constructor)) static void lt_test_register_backends(void) { lt_cpu_register(); }

static int lt_test_passed, lt_test_failed;

#define LT_CHECK(cond) do { \
    if (cond) lt_test_passed++; \
    else { lt_test_failed++; fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); } \
  } while (0)

#define LT_CHECK_CLOSE(a, b, tol) do { \
    double lt_a_ = (double)(a), lt_b_ = (double)(b); \
    if (fabs(lt_a_ - lt_b_) <= (tol) * (1.0 + fabs(lt_b_))) lt_test_passed++; \
    else { lt_test_failed++; fprintf(stderr, "%s:%d: %s = %.17g, expected %.17g\n", __FILE__, __LINE__, #a, lt_a_, lt_b_); } \
  } while (0)

static inline int lt_test_done(void) {
  printf("%d passed, %d failed\n", lt_test_passed, lt_test_failed);
  return lt_test_failed != 0;
}

#endif
