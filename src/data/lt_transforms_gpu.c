/* lt_transforms_gpu.c — the fused GPU pass of lt_transforms_gpu.h: turns a
 * pass description into the CUDA kernel's parameters. */
#include "lt_transforms_gpu.h"

#include <string.h>

#include "lt_backend.h"

lt_status lt_transforms_gpu_run(const lt_tensor *x, lt_tf_geom in, int64_t n, const lt_tf_gpu_pass *gp, lt_tensor *y) {
  const lt_backend *be = NULL;
  LT_TRY(lt_backend_for(lt_tensor_device(x), &be));
  if (!be->transform_batch)
    return lt_error_set(LT_ERR_RUNTIME, 0, "the %s backend has no batched image transforms", be->name);
  lt_tf_batch_params p;
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
  if (gp->mean && in.c > LT_TF_BATCH_MAXC)
    return lt_error_set(LT_ERR_ARG, 0, "normalization on %s takes at most %d channels, the batch has %lld", be->name,
                        LT_TF_BATCH_MAXC, (long long)in.c);
  for (int64_t k = 0; gp->mean && k < in.c; k++) {
    p.mean[k] = gp->mean[k];
    p.std[k] = gp->std[k];
  }
  return be->transform_batch(x, y, &p, gp->top, gp->left, gp->flip);
}
