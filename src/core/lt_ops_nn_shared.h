/* lt_ops_nn_shared.h — what the nn op files share (lt_ops_nn_shared.c):
 * private to the op layer of lt_ops_nn.h (lt_ops_conv.c, lt_ops_norm.c,
 * lt_ops_pool.c, lt_ops_act.c, lt_ops_loss.c, and linear in
 * lt_ops_linalg.c). Argument numbers in messages are the Lua-facing ones, as
 * everywhere in the op layer. Not here: the ops. */
#ifndef LT_OPS_NN_SHARED_H
#define LT_OPS_NN_SHARED_H

#include "lt_ops.h"
#include "lt_ops_nn.h"

/* "[2,3,4]" of t into the char array buf */
#define SHP(t, buf) lt_shape_str((t)->ndim, (t)->shape, (buf), sizeof(buf))

/* --- backends ---------------------------------------------------------------------------- */
const lt_nn_kernels *lt_nn_kernels_of(const lt_tensor *t);
const lt_backend *lt_nn_backend_of(const lt_tensor *t);
/* LT_ERR_RUNTIME "<what> is not implemented on this device" */
lt_status lt_nn_missing(const char *what);
/* The dtype t's backend computes the group's entries for t's dtype in
 * (lt_nn_kernels.compute_dtype), LT_NDTYPES when they do not take it. */
lt_dtype lt_nn_compute_dtype(const lt_tensor *t, lt_nn_group group);

/* --- checks -------------------------------------------------------------------------------- */
/* t is floating, of a dtype the group's kernels take on t's device */
lt_status lt_nn_check_float(const lt_tensor *t, int arg, const char *what, lt_nn_group group);
/* t is on ref's device */
lt_status lt_nn_check_device(const lt_tensor *t, const lt_tensor *ref, int arg, const char *what);
/* t shares ref's device and dtype */
lt_status lt_nn_check_like(const lt_tensor *t, const lt_tensor *ref, int arg, const char *what);
/* t is a [C] vector of per-channel values (running stats, affine params,
 * class weights; `of` names what C counts), of ref's device and dtype
 * (check_vec) or of any (check_vec_shape) */
lt_status lt_nn_check_vec_shape(const lt_tensor *t, const lt_tensor *ref, int64_t C, int arg, const char *what,
                                const char *of);
lt_status lt_nn_check_vec(const lt_tensor *t, const lt_tensor *ref, int64_t C, int arg, const char *what,
                          const char *of);
lt_status lt_nn_check_same_shape(const lt_tensor *a, const lt_tensor *ref, int arg, const char *what,
                                 const char *refwhat);
/* x is 4-D [N,C,H,W] (after lt_nn_batch_all of a 3-D input) */
lt_status lt_nn_check_batched(const lt_tensor *x, int arg);

/* --- memory formats -------------------------------------------------------------------------
 * conv2d, batch_norm and pooling give a channels-last result for a
 * channels-last input (conv: input or weight), as PyTorch does. A backend
 * whose kernels take channels-last tensors (lt_nn_kernels.channels_last, the
 * GPU) gets them as they are; the others get contiguous copies and their
 * results are converted back, so values never depend on the layout. */
/* the format the kernels get for operands of format fmt */
lt_memory_format lt_nn_kernel_format(const lt_tensor *t, lt_memory_format fmt);
/* t laid out in fmt (a new reference). A tensor in both formats at once
 * ([N,C,1,1], C == 1) gets fmt's own strides on a view, without a copy, so
 * kernels (cuDNN's descriptors) and lt_tensor_suggest_format see fmt. */
lt_status lt_nn_in_format(lt_tensor *t, lt_memory_format fmt, lt_tensor **out);
/* n tensors laid out in fmt (NULL stays NULL); on failure nothing is left. */
lt_status lt_nn_format_all(int n, lt_tensor *const *in, lt_memory_format fmt, lt_tensor **out);
/* Replaces *t (when not NULL) by itself laid out in fmt (lt_nn_in_format);
 * *t is untouched on failure. */
lt_status lt_nn_to_format(lt_tensor **t, lt_memory_format fmt);

/* --- unbatched inputs -------------------------------------------------------------------------
 * conv2d and the 2-D poolings take a [C,H,W] input as PyTorch does: as a
 * batch of one, whose results (and input gradient) drop the batch dim
 * again. Each op starts with the same few lines: lt_nn_batch_all, the op on
 * the batched views, lt_nn_unbatch. */
bool lt_nn_unbatched(const lt_tensor *x);
/* The n tensors with a batch dim of 1 added to the 3-D ones (views; others
 * retained as they are, NULL stays NULL); on failure nothing is left. */
lt_status lt_nn_batch_all(int n, lt_tensor *const *in, lt_tensor **out);
/* Ends an op run on lt_nn_batch_all's n views `b` (released here) that
 * returned st: drops the batch dim of each result the caller asked for
 * (slots may be NULL); when st or a squeeze failed, no result is left. */
lt_status lt_nn_unbatch(lt_status st, int nb, lt_tensor **b, int n, lt_tensor **const *slots);

/* --- outputs ------------------------------------------------------------------------------------- */
/* a new contiguous tensor of t's shape, dtype and device */
lt_status lt_nn_empty_like(const lt_tensor *t, lt_tensor **out);
/* Contiguous versions of n tensors (NULL stays NULL); on failure nothing is
 * left retained. */
lt_status lt_nn_contig_all(int n, lt_tensor *const *in, lt_tensor **out);
void lt_nn_release_all(int n, lt_tensor **t);
/* Ends a backward op: on success moves each computed gradient to the
 * caller's slot (slots may be NULL when that gradient was not asked for), on
 * failure releases them all. Returns st. */
lt_status lt_nn_hand_over_grads(lt_status st, lt_tensor **g1, lt_tensor *t1, lt_tensor **g2, lt_tensor *t2,
                                lt_tensor **g3, lt_tensor *t3);
/* Stores `t` into *out when out is not NULL, else drops it. */
void lt_nn_hand_out(lt_tensor *t, lt_tensor **out);

#endif
