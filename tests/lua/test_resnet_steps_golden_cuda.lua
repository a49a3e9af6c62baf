-- test_resnet_steps_golden_cuda.lua — test_resnet_steps_golden.lua (two SGD
-- steps of ResNet18 width 16 against PyTorch's parameters, running
-- statistics and logits) run on the GPU with the GPU tolerances, and once
-- more with TF32 on; "skipped: no GPU" without one. See luatrain.testing
-- (run_on_gpu) for how the body is shared.
require("luatrain.testing").run_on_gpu("test_resnet_steps_golden.lua")
