/* lt_transforms_gpu.c — the fused GPU pass of lt_transforms_gpu.h: turns a
 * pass description into the CUDA kernel's parameters. */
#include "lt_transforms_gpu.h"

#include <string.h>

#ifdef LT_WITH_CUDA
#include "lt_cuda_transforms.h"
#endif

lt_status lt_transforms_gpu_run(const lt_tensor *x, lt_tf_geom in, int64_t n, const lt_tf_gpu_pass *gp, lt_tensor *y) {
#ifdef LT_WITH_CUDA
  lt_cuda_tf_params p;
  memset(&p, 0, sizeof p);
  p.n = n;
  p.c = in.c;
  p.h = in.h;
  p.w = in.w;
  p.oh = gp->top ? gp->oh : in.h;
  p.ow = gp->top ? gp->ow : in.w;
  p.pad = gp->top ? gp->pad : 0;
  p.mode = (int)gp->mode;
  p.fill = gp->fill;
  p.to_float = gp->to_float;
  p.normalize = gp->mean != NULL;
  if (gp->mean && in.c > LT_CUDA_TF_MAXC)
    return lt_error_set(LT_ERR_ARG, 0, "normalization on cuda takes at most %d channels, the batch has %lld",
                        LT_CUDA_TF_MAXC, (long long)in.c);
  for (int64_t k = 0; gp->mean && k < in.c; k++) {
    p.mean[k] = gp->mean[k];
    p.std[k] = gp->std[k];
  }
  return lt_cuda_transform_batch(lt_tensor_device(x).index, in.dt, lt_tensor_data(x), y->dtype, lt_tensor_data(y), &p,
                                 gp->top, gp->left, gp->flip);
#else
  (void)x; (void)in; (void)n; (void)gp; (void)y;
  return lt_error_set(LT_ERR_RUNTIME, 0, "luatrain was built without CUDA");
#endif
}
