/* dist_failures.c — how an MPI job ends when one rank goes wrong, run by
 * ctest under mpirun with tests/dist/run_mpi.sh --expect-fail, which checks
 * that the job exits non-zero, soon, saying which rank and why. The mode
 * is the first argument:
 *   abort     rank 1 calls lt_dist_abort(3) (a script's error) while rank 0
 *             waits in an all_reduce: MPI_Abort ends the job
 *   exit      rank 1 exits with status 3 without destroy_process_group while
 *             rank 0 waits in an all_reduce: mpirun ends the job
 *   timeout   rank 1 never joins the all_reduce (it sleeps); rank 0's group
 *             has a 3-second timeout: its wait fails naming the operation
 *             and the job is aborted
 *   mismatch  run without mpirun (a singleton) under torchrun's variables
 *             for 2 processes: the mpi backend refuses, saying MPI sees 1
 * The last line a rank prints before the failure is its own. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lt_dist.h"
#include "lt_test.h"

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "";
  if (strcmp(mode, "mismatch") == 0) {
    setenv("RANK", "0", 1);
    setenv("WORLD_SIZE", "2", 1);
    lt_status st = lt_dist_init("mpi", 30);
    fprintf(stderr, "mismatch: %s\n", st == LT_OK ? "init succeeded" : lt_error_message());
    return st == LT_OK ? 0 : 1;
  }
  double timeout = strcmp(mode, "timeout") == 0 ? 3 : 120;
  if (lt_dist_init("mpi", timeout) != LT_OK) {
    fprintf(stderr, "init failed: %s\n", lt_error_message());
    return 0; /* a job that fails for another reason must not pass */
  }
  int rank = lt_dist_get_env()->rank;
  int64_t n = 1234;
  lt_tensor *t = NULL;
  if (lt_tensor_zeros(1, &n, LT_FLOAT32, lt_cpu_device(), &t) != LT_OK) return 0;
  if (rank == 1) {
    fprintf(stderr, "rank 1: %s\n", mode);
    fflush(stderr);
    if (strcmp(mode, "abort") == 0) lt_dist_abort(3);
    if (strcmp(mode, "exit") == 0) exit(3);
    if (strcmp(mode, "timeout") == 0) sleep(60);
  }
  lt_dist_work *w;
  lt_status st = lt_dist_all_reduce(t, LT_COMM_SUM, &w);
  if (st == LT_OK) st = lt_dist_work_wait(w);
  fprintf(stderr, "rank %d: the all_reduce %s: %s\n", rank, st == LT_OK ? "finished" : "failed",
          st == LT_OK ? "" : lt_error_message());
  return 0; /* whatever happens, this rank itself does not fail the job */
}
