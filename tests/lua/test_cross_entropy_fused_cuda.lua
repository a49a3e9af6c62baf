-- test_cross_entropy_fused_cuda.lua — test_cross_entropy_fused.lua on the GPU:
-- the fused kernels of cuda/lt_cuda_loss.cu (warp rows, block rows for 2000
-- classes, 16-byte and scalar loads, the spatial column kernels; float64,
-- float32 with TF32 off, bfloat16) against log_softmax + nll_loss in float64
-- on the CPU, and a bad label reported at the next synchronisation.
require("luatrain.testing").run_on_gpu("test_cross_entropy_fused.lua")
