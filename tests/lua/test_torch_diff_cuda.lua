-- test_torch_diff_cuda.lua — the differential suite against PyTorch on the
-- GPU (tests/torch_diff/run.lua through test_torch_diff.lua): float64, float32
-- with TF32 off, the matrix-product cases again with TF32 on and under bf16
-- autocast, each within the bound its case carries. Without a GPU: skipped.
require("luatrain.testing").run_on_gpu("test_torch_diff.lua")
