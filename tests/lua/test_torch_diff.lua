-- test_torch_diff.lua — the differential suite against PyTorch as a ctest
-- entry: tests/torch_diff/run.lua runs every case of tests/torch_diff/cases/
-- through luatrain, float32 and float64, forward and backward, and checks
-- that every public function is covered or listed in uncovered.lua
-- (docs/torch_diff.md). test_torch_diff_cuda.lua runs the same on the GPU.
local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
-- the repository root without "..", so that run.lua finds docs/torch_diff.md from its own path
local root = here:match("^(.*)/tests/lua$") or (here == "tests/lua" and ".") or here .. "/../.."
dofile(root .. "/tests/torch_diff/run.lua")
