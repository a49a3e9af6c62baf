/* test_dist_env.c — lt_dist_env_read (src/dist/lt_dist_env.c), table-tested
 * against made-up environments: each launcher's variables (torchrun, Open
 * MPI, MPICH/PMI, Slurm's srun), their precedence when several are set,
 * the defaults of missing local variables, MASTER_ADDR/MASTER_PORT, and the
 * errors for bad values, which must name the variable. No process is
 * started and the real environment is not read. */
#include <stdlib.h>
#include <string.h>

#include "lt_dist.h"
#include "lt_test.h"

/* An environment: "NAME=value" strings, NULL-terminated. */
static const char *lookup(const char *name, void *ctx) {
  const char *const *vars = ctx;
  size_t n = strlen(name);
  for (; *vars != NULL; vars++)
    if (strncmp(*vars, name, n) == 0 && (*vars)[n] == '=') return *vars + n + 1;
  return NULL;
}

#define ENV(...) ((const char *const[]){__VA_ARGS__, NULL})

typedef struct {
  const char *what;
  const char *const *env;
  const char *launcher;
  int rank, world, local_rank, local_world;
  const char *addr;
  int port;
} ok_case;

typedef struct {
  const char *what;
  const char *const *env;
  const char *message; /* a part of the error */
} bad_case;

int main(void) {
  const ok_case oks[] = {
    {"nothing set", ENV("HOME=/root"), "none", 0, 1, 0, 1, "", 0},
    {"torchrun", ENV("RANK=3", "WORLD_SIZE=8", "LOCAL_RANK=1", "LOCAL_WORLD_SIZE=2", "MASTER_ADDR=node0",
                     "MASTER_PORT=29500"),
     "torchrun", 3, 8, 1, 2, "node0", 29500},
    {"open mpi", ENV("OMPI_COMM_WORLD_RANK=2", "OMPI_COMM_WORLD_SIZE=3", "OMPI_COMM_WORLD_LOCAL_RANK=2",
                     "OMPI_COMM_WORLD_LOCAL_SIZE=3"),
     "openmpi", 2, 3, 2, 3, "", 0},
    {"mpich", ENV("PMI_RANK=5", "PMI_SIZE=6", "MPI_LOCALRANKID=1", "MPI_LOCALNRANKS=2"), "pmi", 5, 6, 1, 2, "", 0},
    {"srun", ENV("SLURM_PROCID=4", "SLURM_STEP_ID=0", "SLURM_NTASKS=6", "SLURM_LOCALID=1", "SLURM_NODEID=1",
                 "SLURM_STEP_TASKS_PER_NODE=3(x2)"),
     "slurm", 4, 6, 1, 3, "", 0},
    {"srun: the step's size before the job's", ENV("SLURM_PROCID=1", "SLURM_STEP_ID=2", "SLURM_NTASKS=8",
                                                    "SLURM_STEP_NUM_TASKS=2", "SLURM_LOCALID=1"),
     "slurm", 1, 2, 1, 2, "", 0},
    {"srun: uneven nodes", ENV("SLURM_PROCID=6", "SLURM_STEP_ID=0", "SLURM_NTASKS=7", "SLURM_LOCALID=0",
                               "SLURM_NODEID=3", "SLURM_TASKS_PER_NODE=2(x3),1"),
     "slurm", 6, 7, 0, 1, "", 0},
    {"srun: SLURM_NTASKS_PER_NODE", ENV("SLURM_PROCID=3", "SLURM_STEP_ID=0", "SLURM_NTASKS=4", "SLURM_LOCALID=1",
                                        "SLURM_NTASKS_PER_NODE=2"),
     "slurm", 3, 4, 1, 2, "", 0},
    {"a batch script's SLURM_PROCID is no launcher", ENV("SLURM_PROCID=0", "SLURM_NTASKS=4", "SLURM_LOCALID=0"),
     "none", 0, 1, 0, 1, "", 0},
    /* precedence: torchrun > Open MPI > PMI > Slurm */
    {"torchrun under mpirun", ENV("OMPI_COMM_WORLD_RANK=1", "OMPI_COMM_WORLD_SIZE=2", "RANK=0", "WORLD_SIZE=1"),
     "torchrun", 0, 1, 0, 1, "", 0},
    {"mpirun under srun", ENV("SLURM_PROCID=0", "SLURM_STEP_ID=0", "SLURM_NTASKS=1", "OMPI_COMM_WORLD_RANK=1",
                              "OMPI_COMM_WORLD_SIZE=4", "OMPI_COMM_WORLD_LOCAL_RANK=1",
                              "OMPI_COMM_WORLD_LOCAL_SIZE=4"),
     "openmpi", 1, 4, 1, 4, "", 0},
    {"pmi before slurm", ENV("SLURM_PROCID=0", "SLURM_STEP_ID=0", "SLURM_NTASKS=1", "PMI_RANK=1", "PMI_SIZE=2"),
     "pmi", 1, 2, 1, 2, "", 0},
    /* missing local variables: one machine */
    {"no local variables", ENV("RANK=2", "WORLD_SIZE=4"), "torchrun", 2, 4, 2, 4, "", 0},
    {"only the local size", ENV("RANK=5", "WORLD_SIZE=8", "LOCAL_WORLD_SIZE=4"), "torchrun", 5, 8, 1, 4, "", 0},
    {"only the local rank", ENV("PMI_RANK=3", "PMI_SIZE=4", "MPI_LOCALRANKID=1"), "pmi", 3, 4, 1, 4, "", 0},
    {"empty variables count as unset", ENV("RANK=", "WORLD_SIZE=", "MASTER_ADDR=", "MASTER_PORT="), "none", 0, 1, 0, 1,
     "", 0},
    {"master address without a launcher", ENV("MASTER_ADDR=10.0.0.1", "MASTER_PORT=1"), "none", 0, 1, 0, 1,
     "10.0.0.1", 1},
    {"largest port", ENV("MASTER_PORT=65535"), "none", 0, 1, 0, 1, "", 65535},
  };
  for (size_t i = 0; i < sizeof oks / sizeof oks[0]; i++) {
    const ok_case *c = &oks[i];
    lt_dist_env e;
    memset(&e, 0x5a, sizeof e);
    lt_status st = lt_dist_env_read(lookup, (void *)c->env, &e);
    LT_CHECK(st == LT_OK);
    if (st != LT_OK) {
      fprintf(stderr, "  case '%s': %s\n", c->what, lt_error_message());
      continue;
    }
    int good = strcmp(e.launcher, c->launcher) == 0 && e.rank == c->rank && e.world_size == c->world &&
               e.local_rank == c->local_rank && e.local_world_size == c->local_world &&
               strcmp(e.master_addr, c->addr) == 0 && e.master_port == c->port;
    LT_CHECK(good);
    if (!good)
      fprintf(stderr, "  case '%s': got %s rank %d/%d local %d/%d addr '%s' port %d\n", c->what, e.launcher, e.rank,
              e.world_size, e.local_rank, e.local_world_size, e.master_addr, e.master_port);
  }

  const bad_case bads[] = {
    {"rank not a number", ENV("RANK=one", "WORLD_SIZE=2"), "RANK='one' is not a number"},
    {"rank with a sign", ENV("RANK=-1", "WORLD_SIZE=2"), "RANK='-1' is not a number"},
    {"rank with a space", ENV("RANK=1 ", "WORLD_SIZE=2"), "RANK='1 ' is not a number"},
    {"rank in hex", ENV("OMPI_COMM_WORLD_RANK=0x1", "OMPI_COMM_WORLD_SIZE=2"), "OMPI_COMM_WORLD_RANK='0x1'"},
    {"rank too large", ENV("RANK=2", "WORLD_SIZE=2"), "RANK=2 is out of range for WORLD_SIZE=2 (ranks are 0 to 1)"},
    {"size zero", ENV("PMI_RANK=0", "PMI_SIZE=0"), "PMI_SIZE=0 is out of range"},
    {"size huge", ENV("RANK=0", "WORLD_SIZE=99999999999"), "WORLD_SIZE='99999999999' is not a number"},
    {"rank without size", ENV("RANK=0"), "RANK is set but WORLD_SIZE is not (torchrun sets both)"},
    {"size without rank", ENV("OMPI_COMM_WORLD_SIZE=2"), "OMPI_COMM_WORLD_SIZE is set but OMPI_COMM_WORLD_RANK is not"},
    {"local rank too large", ENV("RANK=0", "WORLD_SIZE=4", "LOCAL_RANK=2", "LOCAL_WORLD_SIZE=2"),
     "LOCAL_RANK=2 is out of range for LOCAL_WORLD_SIZE=2"},
    {"local rank past the world", ENV("PMI_RANK=0", "PMI_SIZE=2", "MPI_LOCALRANKID=2"),
     "MPI_LOCALRANKID=2 is out of range for PMI_SIZE=2"},
    {"local size past the world", ENV("RANK=0", "WORLD_SIZE=2", "LOCAL_WORLD_SIZE=3"),
     "LOCAL_WORLD_SIZE gives 3 processes on this machine, more than WORLD_SIZE=2"},
    {"local rank not a number", ENV("OMPI_COMM_WORLD_RANK=0", "OMPI_COMM_WORLD_SIZE=2",
                                    "OMPI_COMM_WORLD_LOCAL_RANK=x"),
     "OMPI_COMM_WORLD_LOCAL_RANK='x' is not a number"},
    {"slurm without a size", ENV("SLURM_PROCID=0", "SLURM_STEP_ID=0"), "neither SLURM_STEP_NUM_TASKS nor SLURM_NTASKS"},
    {"slurm list malformed", ENV("SLURM_PROCID=0", "SLURM_STEP_ID=0", "SLURM_NTASKS=2", "SLURM_NODEID=0",
                                 "SLURM_STEP_TASKS_PER_NODE=2(3)"),
     "SLURM_STEP_TASKS_PER_NODE='2(3)' is not a tasks-per-node list"},
    {"slurm list too short", ENV("SLURM_PROCID=0", "SLURM_STEP_ID=0", "SLURM_NTASKS=2", "SLURM_NODEID=2",
                                 "SLURM_TASKS_PER_NODE=1(x2)"),
     "SLURM_TASKS_PER_NODE='1(x2)' lists 2 nodes, but SLURM_NODEID is 2"},
    {"slurm list trailing comma", ENV("SLURM_PROCID=0", "SLURM_STEP_ID=0", "SLURM_NTASKS=2", "SLURM_NODEID=0",
                                      "SLURM_TASKS_PER_NODE=2,"),
     "is not a tasks-per-node list"},
    {"port zero", ENV("MASTER_PORT=0"), "MASTER_PORT=0 is out of range (1 to 65535)"},
    {"port too large", ENV("MASTER_PORT=70000"), "MASTER_PORT=70000 is out of range (1 to 65535)"},
    {"port a name", ENV("MASTER_PORT=http"), "MASTER_PORT='http' is not a number"},
  };
  for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++) {
    const bad_case *c = &bads[i];
    lt_dist_env e;
    lt_status st = lt_dist_env_read(lookup, (void *)c->env, &e);
    int good = st == LT_ERR_ARG && strstr(lt_error_message(), c->message) != NULL;
    LT_CHECK(good);
    if (!good)
      fprintf(stderr, "  case '%s': status %d, message '%s', expected '%s'\n", c->what, (int)st,
              st == LT_OK ? "" : lt_error_message(), c->message);
  }

  /* an address longer than the field */
  {
    char addr[12 + 300] = "MASTER_ADDR=";
    memset(addr + 12, 'a', 299);
    addr[12 + 299] = '\0';
    const char *const env[] = {addr, NULL};
    lt_dist_env e;
    LT_CHECK(lt_dist_env_read(lookup, (void *)env, &e) == LT_ERR_ARG &&
             strstr(lt_error_message(), "MASTER_ADDR is 299 characters long (at most 255)") != NULL);
  }
  /* NULL get reads the process's environment. */
  {
    setenv("RANK", "1", 1);
    setenv("WORLD_SIZE", "2", 1);
    lt_dist_env e;
    LT_CHECK(lt_dist_env_read(NULL, NULL, &e) == LT_OK && e.rank == 1 && e.world_size == 2 &&
             strcmp(e.launcher, "torchrun") == 0);
    unsetenv("RANK");
    unsetenv("WORLD_SIZE");
  }
  return lt_test_done();
}
