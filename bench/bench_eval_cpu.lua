-- bench_eval_cpu.lua — forward-only evaluation on the CPU: the 10,000-image
-- Fashion-MNIST test set (Debian's dataset-fashion-mnist) through the demo's
-- model, the reference recipe's ResNet18 at width 8 with one input channel
-- (what `make demo` trains), in eval mode under lt.no_grad, batch 128. The
-- batches come from a DataLoader with 2 worker threads doing ToFloat and
-- Normalize(0.2860, 0.3530), as the demo's validation does; the time covers
-- loading, the forward pass and the arg-max. The weights are random: this is
-- a speed figure, not an accuracy.
--
-- Timing: one unmeasured pass (it starts the workers), then the best of
-- `reps` passes (bench/timing.lua). The figure to hold it against is its
-- PyTorch twin on the same machine, `bench/torch_cpu_twin.py --workload
-- eval`, which bench/cpu_twin.sh runs next to it with the same number of
-- threads and prints the ratio of the two.
--
-- Prints a line for people and one for bench/cpu_twin.sh:
--   RESULT luatrain eval seconds S images_per_s R
--
-- Usage: luatrain bench/bench_eval_cpu.lua [reps]   (default 2)
local best = dofile((arg[0]:match("^(.*)/[^/]*$") or ".") .. "/timing.lua").best
local T = lt.transforms
local reps = tonumber(arg and arg[1]) or 2

local test_set = lt.data.FashionMNIST{train = false}
local loader = lt.data.DataLoader(test_set, {batch_size = 128, shuffle = false, num_workers = 2,
                                             transform = T.Compose{T.ToFloat(), T.Normalize({0.2860}, {0.3530})}})
lt.manual_seed(1)
local model = lt.models.resnet18{num_classes = 10, width = 8, in_channels = 1}
model:eval()

local correct = 0
local function pass()
  correct = 0
  lt.no_grad(function()
    for _, images, labels in loader:iter() do
      correct = correct + model(images):argmax(2):eq(labels):sum():item()
    end
  end)
end

print(string.format("luatrain %s bench_eval_cpu: %d OpenMP thread(s), %d test images, batch 128, 2 loader workers",
  lt.version, lt.get_num_threads(), #test_set))
local seconds = best(pass, reps, 1)
loader:close()
print(string.format("ResNet18 w8 eval of the Fashion-MNIST test set  %.3f s  %.0f img/s  (random weights: %d correct)",
  seconds, #test_set / seconds, correct))
print(string.format("RESULT luatrain eval seconds %.4f images_per_s %.1f", seconds, #test_set / seconds))
