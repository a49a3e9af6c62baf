-- test_batch_norm_relu_cuda.lua — test_batch_norm_relu.lua on the GPU, whose
-- backend has no fused batch-norm + ReLU kernels: F.batch_norm_relu and
-- bn:forward_relu must be batch norm then ReLU there (ReluBackward, the same
-- numbers exactly), and the gradient checks must hold on the device.
require("luatrain.testing").run_on_gpu("test_batch_norm_relu.lua")
