-- test_nn_golden_cuda.lua — test_nn_golden.lua (the single-op PyTorch
-- goldens) run on the GPU with the GPU tolerances; "skipped: no GPU" without
-- one. See luatrain.testing (run_on_gpu) for how the body is shared.
require("luatrain.testing").run_on_gpu("test_nn_golden.lua")
