/* lt_dist_env.c — which process this is among how many, read from the
 * variables the launcher set (lt_dist_env_read in lt_dist.h lists them and
 * their order). Nothing here talks to another process: it is the first
 * step of init_process_group, and the one a launcher mistake shows up in,
 * so every message names the variable and the value at fault. Numbers are
 * parsed strictly (decimal digits only: "2 ", "0x2", "-1" and "" inside a
 * list are errors), because a rank read wrongly makes a job that hangs
 * instead of one that fails. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lt_dist.h"

/* The largest world the layer accepts: far above any job, small enough that
 * sums of ranks never overflow an int. */
#define LT_DIST_MAX_WORLD (1 << 24)

typedef struct {
  const char *(*get)(const char *name, void *ctx);
  void *ctx;
} env_src;

static const char *getenv_ctx(const char *name, void *ctx) {
  (void)ctx;
  return getenv(name);
}

/* The variable's value, NULL when unset or empty. */
static const char *var(const env_src *e, const char *name) {
  const char *v = e->get(name, e->ctx);
  return v != NULL && v[0] != '\0' ? v : NULL;
}

/* Parses the decimal digits of [s, s+n) into *out, at most `max`. */
static int parse_digits(const char *s, size_t n, long max, long *out) {
  if (n == 0 || n > 10) return 0;
  long v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return 0;
    v = v * 10 + (s[i] - '0');
  }
  if (v > max) return 0;
  *out = v;
  return 1;
}

/* Reads variable `name` (set) as an integer in [min, max]. */
static lt_status read_int(const env_src *e, const char *name, long min, long max, int *out) {
  const char *v = var(e, name);
  long x;
  if (!parse_digits(v, strlen(v), LT_DIST_MAX_WORLD, &x))
    return lt_error_set(LT_ERR_ARG, 0, "%s='%.64s' is not a number (expected decimal digits, %ld to %ld)", name, v,
                        min, max);
  if (x < min || x > max) return lt_error_set(LT_ERR_ARG, 0, "%s=%ld is out of range (%ld to %ld)", name, x, min, max);
  *out = (int)x;
  return LT_OK;
}

/* Slurm's tasks-per-node list, "2(x3),1": the count of node `node`. Fails
 * for a malformed list (the whole list is checked) or a node past its end. */
static lt_status slurm_tasks_on_node(const char *name, const char *list, int node, int *out) {
  const char *p = list;
  long first = 0; /* index of the first node of the current entry */
  int found = 0;
  while (*p) {
    size_t n = strcspn(p, "(,");
    long count, repeat = 1;
    if (!parse_digits(p, n, LT_DIST_MAX_WORLD, &count) || count < 1) goto bad;
    p += n;
    if (*p == '(') {
      if (p[1] != 'x') goto bad;
      p += 2;
      n = strcspn(p, ")");
      if (p[n] != ')' || !parse_digits(p, n, LT_DIST_MAX_WORLD, &repeat) || repeat < 1) goto bad;
      p += n + 1;
    }
    if (node >= first && node < first + repeat) found = (int)count;
    first += repeat;
    if (first > LT_DIST_MAX_WORLD) goto bad;
    if (*p == ',') {
      p++;
      if (*p == '\0') goto bad;
    } else if (*p != '\0') {
      goto bad;
    }
  }
  if (found) {
    *out = found;
    return LT_OK;
  }
  return lt_error_set(LT_ERR_ARG, 0, "%s='%.64s' lists %ld nodes, but SLURM_NODEID is %d", name, list, first, node);
bad:
  return lt_error_set(LT_ERR_ARG, 0, "%s='%.64s' is not a tasks-per-node list such as '2(x3),1'", name, list);
}

/* The launchers, in the order they are tried. Slurm's local size is worked
 * out separately (slurm_local_size). */
typedef struct {
  const char *launcher, *rank, *size, *local_rank, *local_size;
} launcher_vars;

static const launcher_vars launchers[] = {
  {"torchrun", "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE"},
  {"openmpi", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK",
   "OMPI_COMM_WORLD_LOCAL_SIZE"},
  {"pmi", "PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID", "MPI_LOCALNRANKS"},
};

/* This node's task count (0: unknown) and the variable it came from. */
static lt_status slurm_local_size(const env_src *e, int world, int *out, const char **from) {
  *out = 0;
  const char *lists[] = {"SLURM_STEP_TASKS_PER_NODE", "SLURM_TASKS_PER_NODE"};
  for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
    const char *list = var(e, lists[i]);
    if (list == NULL || var(e, "SLURM_NODEID") == NULL) continue;
    int node;
    LT_TRY(read_int(e, "SLURM_NODEID", 0, LT_DIST_MAX_WORLD, &node));
    *from = lists[i];
    return slurm_tasks_on_node(lists[i], list, node, out);
  }
  if (var(e, "SLURM_NTASKS_PER_NODE") == NULL) return LT_OK;
  *from = "SLURM_NTASKS_PER_NODE";
  return read_int(e, "SLURM_NTASKS_PER_NODE", 1, world, out);
}

lt_status lt_dist_env_read(const char *(*get)(const char *name, void *ctx), void *ctx, lt_dist_env *out) {
  env_src e = {get != NULL ? get : getenv_ctx, ctx};
  lt_dist_env r;
  memset(&r, 0, sizeof r);
  r.world_size = 1;
  snprintf(r.launcher, sizeof r.launcher, "none");
  int local_rank = -1, local_size = 0; /* -1, 0: unknown */
  const char *rank_var = NULL, *size_var = NULL, *lrank_var = NULL, *lsize_var = NULL;

  for (size_t i = 0; i < sizeof launchers / sizeof launchers[0] && rank_var == NULL; i++) {
    const launcher_vars *l = &launchers[i];
    if (var(&e, l->rank) == NULL && var(&e, l->size) == NULL) continue;
    if (var(&e, l->rank) == NULL || var(&e, l->size) == NULL)
      return lt_error_set(LT_ERR_ARG, 0, "%s is set but %s is not (%s sets both)",
                          var(&e, l->rank) ? l->rank : l->size, var(&e, l->rank) ? l->size : l->rank, l->launcher);
    snprintf(r.launcher, sizeof r.launcher, "%s", l->launcher);
    rank_var = l->rank, size_var = l->size, lrank_var = l->local_rank, lsize_var = l->local_size;
  }
  if (rank_var == NULL && var(&e, "SLURM_PROCID") != NULL && var(&e, "SLURM_STEP_ID") != NULL) {
    snprintf(r.launcher, sizeof r.launcher, "slurm");
    rank_var = "SLURM_PROCID";
    size_var = var(&e, "SLURM_STEP_NUM_TASKS") != NULL ? "SLURM_STEP_NUM_TASKS" : "SLURM_NTASKS";
    if (var(&e, size_var) == NULL)
      return lt_error_set(LT_ERR_ARG, 0, "SLURM_PROCID is set but neither SLURM_STEP_NUM_TASKS nor SLURM_NTASKS is");
    lrank_var = "SLURM_LOCALID";
  }

  if (rank_var != NULL) {
    LT_TRY(read_int(&e, size_var, 1, LT_DIST_MAX_WORLD, &r.world_size));
    long x; /* the rank: set, as the launcher was chosen by it or checked to have it */
    const char *v = var(&e, rank_var);
    if (!parse_digits(v, strlen(v), LT_DIST_MAX_WORLD, &x))
      return lt_error_set(LT_ERR_ARG, 0, "%s='%.64s' is not a number (expected decimal digits)", rank_var, v);
    if (x >= r.world_size)
      return lt_error_set(LT_ERR_ARG, 0, "%s=%ld is out of range for %s=%d (ranks are 0 to %d)", rank_var, x, size_var,
                          r.world_size, r.world_size - 1);
    r.rank = (int)x;
    if (lsize_var != NULL && var(&e, lsize_var) != NULL) {
      LT_TRY(read_int(&e, lsize_var, 1, LT_DIST_MAX_WORLD, &local_size));
    } else if (strcmp(r.launcher, "slurm") == 0) {
      LT_TRY(slurm_local_size(&e, r.world_size, &local_size, &lsize_var));
    }
    if (local_size > r.world_size)
      return lt_error_set(LT_ERR_ARG, 0, "%s gives %d processes on this machine, more than %s=%d",
                          lsize_var != NULL ? lsize_var : "?", local_size, size_var, r.world_size);
    if (var(&e, lrank_var) != NULL) {
      LT_TRY(read_int(&e, lrank_var, 0, LT_DIST_MAX_WORLD, &local_rank));
      int bound = local_size > 0 ? local_size : r.world_size;
      if (local_rank >= bound)
        return lt_error_set(LT_ERR_ARG, 0, "%s=%d is out of range for %s=%d (local ranks are 0 to %d)", lrank_var,
                            local_rank, local_size > 0 ? lsize_var : size_var, bound, bound - 1);
    }
  }
  /* Missing local variables: the ranks share this machine (lt_dist.h). */
  r.local_world_size = local_size > 0 ? local_size : r.world_size;
  r.local_rank = local_rank >= 0 ? local_rank : (local_size > 0 ? r.rank % local_size : r.rank);

  const char *addr = var(&e, "MASTER_ADDR");
  if (addr != NULL) {
    if (strlen(addr) >= sizeof r.master_addr)
      return lt_error_set(LT_ERR_ARG, 0, "MASTER_ADDR is %zu characters long (at most %zu)", strlen(addr),
                          sizeof r.master_addr - 1);
    snprintf(r.master_addr, sizeof r.master_addr, "%s", addr);
  }
  if (var(&e, "MASTER_PORT") != NULL) LT_TRY(read_int(&e, "MASTER_PORT", 1, 65535, &r.master_port));
  *out = r;
  return LT_OK;
}
