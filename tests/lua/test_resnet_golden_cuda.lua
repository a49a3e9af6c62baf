-- test_resnet_golden_cuda.lua — test_resnet_golden.lua (ResNet18 width 16:
-- PyTorch's logits, loss, every gradient and the running statistics) run on
-- the GPU with the GPU tolerances; "skipped: no GPU" without one. See
-- luatrain.testing (run_on_gpu) for how the body is shared.
require("luatrain.testing").run_on_gpu("test_resnet_golden.lua")
