/* lt_cpu_norm_cl.h — the passes of CPU batch norm over a channels-last
 * tensor (lt_cpu_norm_cl.c), called by lt_cpu_norm.c, which computes the
 * statistics and coefficients between them exactly as for NCHW.
 *
 * A channels-last [N,C,H,W] tensor is a [M, C] matrix, M = N*H*W rows with
 * the channels innermost; a pass covers rows [r0, r1) and runs along each
 * row over all channels, so its inner loops are vector instructions over
 * the channels. Sums for each channel are kept in float for at most
 * LT_BN_CL_CHUNK rows and then added into double, as the NCHW passes do. */
#ifndef LT_CPU_NORM_CL_H
#define LT_CPU_NORM_CL_H

#include "lt_backend_nn.h"

#define LT_BN_CL_CHUNK 256

/* Per-channel values of a pass, [C] each; float32/16-bit passes read the f
 * arrays, float64 ones the d arrays. */
typedef struct {
  const float *shift, *ra, *rb, *A, *K, *B;      /* see below */
  const double *shiftd, *rad, *rbd, *ad, *k1d, *k2d;
} lt_bn_cl_coef;

/* The doubles and floats of scratch one thread needs for C channels. */
size_t lt_bn_cl_scratch_bytes(int64_t C);

/* Statistics: s1[c] = sum of (x - shift[c]) and, when s2, s2[c] = sum of
 * (x - shift[c])^2 over the rows (shift NULL: 0). */
void lt_bn_cl_stats(lt_dtype dt, const void *x, int64_t C, int64_t r0, int64_t r1, const lt_bn_cl_coef *k,
                    bool with_shift, double *s1, double *s2, void *scratch);

/* y = x*ra + rb per channel, then max(., 0) when relu (NaN kept). */
void lt_bn_cl_normalise(lt_dtype dt, const void *x, void *y, int64_t C, int64_t r0, int64_t r1,
                        const lt_bn_cl_coef *k, bool relu, void *scratch);

/* Backward sums: s1[c] = sum g', s2[c] = sum g' * (x - shift[c]), where g'
 * is gy, masked to 0 (relu) where the forward's y = relu(x*ra + rb) is 0. */
void lt_bn_cl_grad_sums(lt_dtype dt, const void *gy, const void *x, int64_t C, int64_t r0, int64_t r1,
                        const lt_bn_cl_coef *k, bool relu, double *s1, double *s2, void *scratch);

/* gx: training, A*g' + K*(x - shift) + B (float) or a*(g' - k1 - (x - shift)*k2)
 * (float64); eval, A*g' (a*g'). */
void lt_bn_cl_grad_input(lt_dtype dt, void *gx, const void *gy, const void *x, int64_t C, int64_t r0, int64_t r1,
                         const lt_bn_cl_coef *k, bool relu, bool training, void *scratch);

#endif
