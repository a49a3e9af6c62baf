"""torch_resnet18.py — the PyTorch twin of bench/bench_resnet18_gpu.lua: the
reference recipe's ResNet18 (CIFAR variant: 3x3 stem, no max-pool, BasicBlocks 2-2-2-2,
the classifier named `classifer` as in the reference recipe), synthetic data on the GPU,
one training step = forward, cross-entropy, backward, SGD (momentum 0.9,
weight decay 5e-4). Modes:

  fp32            eager float32 (cuDNN may use TF32, PyTorch's default)
  bf16-cl         eager, bfloat16 autocast, channels_last
  compile-bf16    torch.compile(mode="reduce-overhead") (CUDA graphs),
                  bfloat16 autocast, channels_last

Each: `warm` unmeasured steps, then `steps` timed steps between two
synchronisations; peak = torch.cuda.max_memory_allocated over the timed
steps. Lines starting with RESULT are read by scripts/device_check.sh.
`--device cpu` runs the same steps on the CPU (no peak memory figure): the
device check's dry run on a machine without a GPU.

Usage: python bench/torch_resnet18.py [--batches 128,512] [--steps 30]
       [--modes fp32,bf16-cl,compile-bf16] [--device cuda|cpu]
"""
import argparse
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self, num_blocks=(2, 2, 2, 2), num_classes=10, width=64, in_channels=3):
        super().__init__()
        self.in_planes = width
        self.conv1 = nn.Sequential(nn.Conv2d(in_channels, width, 3, stride=1, padding=1, bias=False), nn.BatchNorm2d(width),
                                   nn.ReLU())
        self.layer1 = self._make_layer(width, num_blocks[0], 1)
        self.layer2 = self._make_layer(2 * width, num_blocks[1], 2)
        self.layer3 = self._make_layer(4 * width, num_blocks[2], 2)
        self.layer4 = self._make_layer(8 * width, num_blocks[3], 2)
        self.avg_pool = nn.AdaptiveAvgPool2d((1, 1))
        self.classifer = nn.Linear(8 * width, num_classes)

    def _make_layer(self, planes, n, stride):
        layers = []
        for s in [stride] + [1] * (n - 1):
            layers.append(BasicBlock(self.in_planes, planes, s))
            self.in_planes = planes
        return nn.Sequential(*layers)

    def forward(self, x):
        out = self.conv1(x)
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        out = self.avg_pool(out)
        return self.classifer(torch.flatten(out, 1))


def run(mode, batch, steps, warm, device):
    torch.manual_seed(0)
    dev = torch.device(device)
    cuda = dev.type == "cuda"
    model = ResNet().to(dev)
    channels_last = mode != "fp32"
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(batch, 3, 32, 32, device=dev)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch,), device=dev)
    autocast = mode != "fp32"

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=autocast):
            loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    if mode == "compile-bf16":
        step = torch.compile(step, mode="reduce-overhead")
    for _ in range(warm):
        step()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if cuda:
        torch.cuda.synchronize()
    ms = (time.perf_counter() - t0) * 1000 / steps
    return ms, torch.cuda.max_memory_allocated() / 2**20 if cuda else 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", default="128,512")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warm", type=int, default=5)
    ap.add_argument("--modes", default="fp32,bf16-cl,compile-bf16")
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    a = ap.parse_args()
    if a.device == "cuda" and not torch.cuda.is_available():
        print("skipped: no GPU")
        return
    torch.backends.cudnn.benchmark = True
    where = torch.cuda.get_device_name() if a.device == "cuda" else "the CPU"
    print(f"torch {torch.__version__} cuDNN {torch.backends.cudnn.version()} on {where}: "
          f"{a.steps} timed steps after {a.warm} warm-up steps, cudnn.allow_tf32="
          f"{torch.backends.cudnn.allow_tf32}, matmul.allow_tf32={torch.backends.cuda.matmul.allow_tf32}", flush=True)
    for batch in [int(b) for b in a.batches.split(",")]:
        for mode in a.modes.split(","):
            warm = a.warm + (3 if mode.startswith("compile") else 0)
            try:
                ms, peak = run(mode, batch, a.steps, warm, a.device)
                print(f"RESULT torch    {mode:<14} batch {batch:4d}: {ms:8.2f} ms/step {batch * 1000 / ms:9.0f} img/s  "
                      f"peak {peak:8.0f} MiB", flush=True)
            except Exception as e:  # a mode that fails must not hide the others
                print(f"RESULT torch    {mode:<14} batch {batch:4d}: n/a ({type(e).__name__}: {str(e)[:120]})",
                      flush=True)
            if a.device == "cuda":
                torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
