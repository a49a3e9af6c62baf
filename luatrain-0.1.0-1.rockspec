-- luatrain's rockspec: `luarocks make` in this folder builds libluatrain with
-- CMake (Release; the CUDA backend too when the CUDA toolkit and cuDNN are
-- found) and installs it as the module luatrain, so that a Lua 5.4 with the
-- rocks tree on its package.cpath can `local lt = require "luatrain"`.
-- The Debian packages it builds with: scripts/install-deps.sh.
-- LUATRAIN_ROCK_BUILD=<folder> builds in that folder instead of build-rock
-- (an existing build folder of this tree: nothing is rebuilt that is current).
rockspec_format = "3.0"
package = "luatrain"
version = "0.1.0-1"
source = {
  url = "git+file://.",
}
description = {
  summary = "Deep-learning training runtime scripted in Lua 5.4, with PyTorch's semantics",
  detailed = [[
luatrain trains neural networks from Lua: tensors, autograd, layers,
optimizers, learning-rate schedulers, data loaders with augmentation and
checkpoints, on the CPU (OpenBLAS) and on NVIDIA GPUs (CUDA, cuDNN).
]],
  license = "MIT",
  labels = {"deep-learning", "neural-networks", "tensor", "cuda"},
}
dependencies = {
  "lua >= 5.4, < 5.5",
}
build = {
  type = "command",
  build_command = [[
b="${LUATRAIN_ROCK_BUILD:-build-rock}" &&
cmake -S . -B "$b" -DCMAKE_BUILD_TYPE=Release &&
cmake --build "$b" --target luatrain_shared -j `nproc` &&
mkdir -p build-rock && cp -L "$b/libluatrain.so.0" build-rock/luatrain.so
]],
  install = {
    lib = {luatrain = "build-rock/luatrain.so"},
  },
}
