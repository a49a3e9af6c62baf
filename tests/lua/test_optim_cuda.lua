-- test_optim_cuda.lua — the golden trajectories of test_optim.lua (six steps
-- of each optimizer against PyTorch, float32 and float64, four parameter
-- layouts) run on the GPU; "skipped: no GPU" without one. The rest of
-- test_optim.lua is CPU-only and stops there. See luatrain.testing
-- (run_on_gpu) for how the body is shared.
require("luatrain.testing").run_on_gpu("test_optim.lua")
