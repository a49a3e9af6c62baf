-- test_channels_last_cuda.lua — test_channels_last.lua on the GPU: the
-- channels-last side runs on cuda and is compared with the NCHW computation
-- on the CPU (float32 with TF32 off 1e-5, bfloat16 1e-2), and conv, batch
-- norm and pooling results on the GPU must stay channels-last.
require("luatrain.testing").run_on_gpu("test_channels_last.lua")
