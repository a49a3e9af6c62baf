-- uncovered.lua — the public functions of lt, lt.Tensor and lt.nn.functional
-- that no case of the differential suite calls, each with the reason.
-- run.lua fails when a public function is neither called by a case nor
-- listed here, and when an entry here names a function that a case calls or
-- that does not exist; docs/torch_diff.md shows this list beside the coverage.
return {
  ["lt.help"] = "the REPL's one-screen help; PyTorch has no counterpart (tests/lua/test_help.lua)",
  ["lt.set_printoptions"] = "luatrain's own printing format, not PyTorch's repr",
  ["lt.isatty"] = "a terminal query for the progress display, luatrain-only",
  ["lt.memory_stats"] = "luatrain's allocator statistics; PyTorch's CPU allocator reports none",
  ["lt.save"] = "writes safetensors with luatrain's metadata, not torch.save's pickle "
    .. "(tests/lua/test_checkpoint.lua)",
  ["lt.load"] = "reads safetensors, not torch.load's pickle; it reads every case file of this suite "
    .. "(tests/lua/test_checkpoint.lua)",
  ["Tensor:cuda"] = "a device transfer, GPU only: the GPU run of this suite moves every input with x:to(), "
    .. "and tests/lua/test_transfer_cuda.lua covers x:cuda()",
  ["Tensor:pin_memory"] = "page-locked host memory for GPU copies; PyTorch needs CUDA for it "
    .. "(tests/lua/test_pinned.lua)",
  ["Tensor:register_post_accumulate_grad_hook"] = "registers Lua code that runs during backward; "
    .. "it computes nothing to compare (tests/lua/test_grad_hooks.lua)",
  ["Tensor:is_pinned"] = "page-locked host memory for GPU copies; PyTorch needs CUDA for it "
    .. "(tests/lua/test_pinned.lua)",
}
