/* lt_cpu_dnnl.h — oneDNN (Debian's libdnnl2), the CPU convolutions' fast
 * path, as the CPU backend sees it: the library opened with dlopen on first
 * use, its functions in one table, one CPU engine, and a stream per calling
 * thread. The convolutions themselves: lt_cpu_conv_dnnl.c.
 *
 * oneDNN is optional at build time (its headers come from libdnnl-dev) and
 * at run time (a machine without libdnnl.so.2 keeps the im2col path): the
 * program never links it, so the binary that travels to GPU machines starts
 * where it is absent. */
#ifndef LT_CPU_DNNL_H
#define LT_CPU_DNNL_H

#include <stdbool.h>
#include <stddef.h>

#include "lt_error.h"

#ifdef LT_HAVE_DNNL
#include <oneapi/dnnl/dnnl.h>

/* The oneDNN functions luatrain calls, filled by dlsym. */
typedef struct {
  dnnl_status_t (*engine_create)(dnnl_engine_t *, dnnl_engine_kind_t, size_t);
  dnnl_status_t (*stream_create)(dnnl_stream_t *, dnnl_engine_t, unsigned);
  dnnl_status_t (*stream_destroy)(dnnl_stream_t);
  dnnl_status_t (*memory_desc_init_by_tag)(dnnl_memory_desc_t *, int, const dnnl_dims_t, dnnl_data_type_t,
                                           dnnl_format_tag_t);
  int (*memory_desc_equal)(const dnnl_memory_desc_t *, const dnnl_memory_desc_t *);
  size_t (*memory_desc_get_size)(const dnnl_memory_desc_t *);
  dnnl_status_t (*memory_create)(dnnl_memory_t *, const dnnl_memory_desc_t *, dnnl_engine_t, void *);
  dnnl_status_t (*memory_destroy)(dnnl_memory_t);
  dnnl_status_t (*conv_forward_desc_init)(dnnl_convolution_desc_t *, dnnl_prop_kind_t, dnnl_alg_kind_t,
                                          const dnnl_memory_desc_t *, const dnnl_memory_desc_t *,
                                          const dnnl_memory_desc_t *, const dnnl_memory_desc_t *, const dnnl_dims_t,
                                          const dnnl_dims_t, const dnnl_dims_t, const dnnl_dims_t);
  dnnl_status_t (*conv_backward_data_desc_init)(dnnl_convolution_desc_t *, dnnl_alg_kind_t,
                                                const dnnl_memory_desc_t *, const dnnl_memory_desc_t *,
                                                const dnnl_memory_desc_t *, const dnnl_dims_t, const dnnl_dims_t,
                                                const dnnl_dims_t, const dnnl_dims_t);
  dnnl_status_t (*conv_backward_weights_desc_init)(dnnl_convolution_desc_t *, dnnl_alg_kind_t,
                                                   const dnnl_memory_desc_t *, const dnnl_memory_desc_t *,
                                                   const dnnl_memory_desc_t *, const dnnl_memory_desc_t *,
                                                   const dnnl_dims_t, const dnnl_dims_t, const dnnl_dims_t,
                                                   const dnnl_dims_t);
  dnnl_status_t (*attr_create)(dnnl_primitive_attr_t *);
  dnnl_status_t (*attr_destroy)(dnnl_primitive_attr_t);
  dnnl_status_t (*attr_set_scratchpad_mode)(dnnl_primitive_attr_t, dnnl_scratchpad_mode_t);
  dnnl_status_t (*primitive_desc_create)(dnnl_primitive_desc_t *, const_dnnl_op_desc_t, const_dnnl_primitive_attr_t,
                                         dnnl_engine_t, const_dnnl_primitive_desc_t);
  dnnl_status_t (*primitive_desc_destroy)(dnnl_primitive_desc_t);
  const dnnl_memory_desc_t *(*primitive_desc_query_md)(const_dnnl_primitive_desc_t, dnnl_query_t, int);
  dnnl_status_t (*reorder_primitive_desc_create)(dnnl_primitive_desc_t *, const dnnl_memory_desc_t *, dnnl_engine_t,
                                                 const dnnl_memory_desc_t *, dnnl_engine_t,
                                                 const_dnnl_primitive_attr_t);
  dnnl_status_t (*primitive_create)(dnnl_primitive_t *, const_dnnl_primitive_desc_t);
  dnnl_status_t (*primitive_destroy)(dnnl_primitive_t);
  dnnl_status_t (*primitive_execute)(const_dnnl_primitive_t, dnnl_stream_t, int, const dnnl_exec_arg_t *);
  dnnl_status_t (*stream_wait)(dnnl_stream_t);
  const dnnl_version_t *(*version)(void);
  /* post-ops: the inference convolution's fused batch norm, sum and ReLU */
  dnnl_status_t (*post_ops_create)(dnnl_post_ops_t *);
  dnnl_status_t (*post_ops_destroy)(dnnl_post_ops_t);
  dnnl_status_t (*post_ops_append_binary)(dnnl_post_ops_t, dnnl_alg_kind_t, const dnnl_memory_desc_t *);
  dnnl_status_t (*post_ops_append_sum)(dnnl_post_ops_t, float);
  dnnl_status_t (*post_ops_append_eltwise)(dnnl_post_ops_t, float, dnnl_alg_kind_t, float, float);
  dnnl_status_t (*attr_set_post_ops)(dnnl_primitive_attr_t, const_dnnl_post_ops_t);
  /* the implementation's name ("jit:avx512_core", "ref:any", ...) */
  dnnl_status_t (*primitive_desc_query)(const_dnnl_primitive_desc_t, dnnl_query_t, int, void *);
} lt_dnnl_api;

/* The table, or NULL (with the reason in the error state) when oneDNN
 * cannot be loaded. Loads once; thread-safe. */
const lt_dnnl_api *lt_dnnl(void);

/* The CPU engine, and this thread's stream on it (made on first use,
 * destroyed when the thread ends). Valid only once lt_dnnl() succeeded. */
dnnl_engine_t lt_dnnl_engine(void);
dnnl_stream_t lt_dnnl_stream(void);

/* oneDNN's name for a status code. */
const char *lt_dnnl_status_str(dnnl_status_t s);
#endif

/* Whether oneDNN is usable, and its description: lt_cpu_onednn_available
 * and lt_cpu_onednn_describe (lt_cpu.h), defined in lt_cpu_dnnl.c. */

#endif
