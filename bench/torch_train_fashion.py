"""torch_train_fashion.py — the PyTorch twin of luatrain's Fashion-MNIST
training run, for accuracy and time side by side on the same machine
(scripts/device_check.sh, phase `recipe`). It trains what

  luatrain scripts/cifar_resnet18.lua --dataset fashion-mnist --data DIR --epochs E \\
      --sched onecycle --warmup 0 --wd 5e-4 --optim nesterov --width 64

trains: the reference recipe's ResNet18 (bench/torch_resnet18.py's model,
1 input channel) on Fashion-MNIST with RandomCrop(28, padding 4) and a
horizontal flip, Normalize(0.2860, 0.3530), cross-entropy, SGD (momentum
0.9, Nesterov, weight decay 5e-4), OneCycleLR (max_lr 0.1, pct_start 0.15,
stepped every batch), batch 128, validation on the test set after each
epoch. The images live on the GPU as uint8 and are cropped, flipped and
normalised there, as luatrain does on the GPU, so neither side waits for a
CPU loader.

Prints one line per epoch and a RESULT line (read by device_check.sh):
  RESULT torch-train <mode> epochs E: best top-1 P % train S s total T s
where `train` is the sum of the epochs' training and validation time and
`total` includes loading the data and building the model.

Usage: python bench/torch_train_fashion.py --data DIR [--epochs 8] [--mode fp32|bf16-cl]
       [--limit-train N] [--limit-test N] [--device cuda|cpu]
"""
import argparse
import gzip
import os
import struct
import time

import numpy as np
import torch
import torch.nn.functional as F

from torch_resnet18 import ResNet

MEAN, STD = 0.2860, 0.3530


def read_idx(path):
    """An IDX file (plain or .gz) as a numpy array."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path}: not an IDX file of unsigned bytes")
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def find(root, name):
    for candidate in (os.path.join(root, name), os.path.join(root, name + ".gz")):
        if os.path.exists(candidate):
            return candidate
    raise FileNotFoundError(f"no {name} or {name}.gz in {root}")


def load(root, train, limit, dev):
    prefix = "train" if train else "t10k"
    x = read_idx(find(root, f"{prefix}-images-idx3-ubyte"))
    y = read_idx(find(root, f"{prefix}-labels-idx1-ubyte"))
    if limit > 0:
        x, y = x[:limit], y[:limit]
    return torch.from_numpy(x.copy()).to(dev), torch.from_numpy(y.astype(np.int64)).to(dev)


def augment(images, gen):
    """RandomCrop(28, padding=4) with zero padding, then a horizontal flip
    with probability 0.5; uint8 [B,28,28] in, float32 [B,1,28,28] out."""
    b = images.shape[0]
    padded = F.pad(images, (4, 4, 4, 4))
    dev = images.device
    oy = torch.randint(0, 9, (b,), device=dev, generator=gen)
    ox = torch.randint(0, 9, (b,), device=dev, generator=gen)
    ar = torch.arange(28, device=dev)
    rows = (oy[:, None] + ar)[:, :, None]
    cols = (ox[:, None] + ar)[:, None, :]
    crop = padded[torch.arange(b, device=dev)[:, None, None], rows, cols]
    flip = torch.rand(b, device=dev, generator=gen) < 0.5
    crop = torch.where(flip[:, None, None], crop.flip(-1), crop)
    return normalize(crop)


def normalize(images):
    return ((images.float() / 255.0 - MEAN) / STD).unsqueeze(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--mode", default="fp32", choices=["fp32", "bf16-cl"])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--limit-train", type=int, default=0)
    ap.add_argument("--limit-test", type=int, default=0)
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--width", type=int, default=64)
    a = ap.parse_args()
    if a.device == "cuda" and not torch.cuda.is_available():
        print("skipped: no GPU")
        return
    t_start = time.perf_counter()
    dev = torch.device(a.device)
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(1)
    gen = torch.Generator(device=dev)
    gen.manual_seed(1)
    xtr, ytr = load(a.data, True, a.limit_train, dev)
    xte, yte = load(a.data, False, a.limit_test, dev)
    channels_last = a.mode == "bf16-cl"
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = ResNet(num_classes=10, width=a.width, in_channels=1).to(dev).to(memory_format=fmt)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4, nesterov=True)
    iters = (xtr.shape[0] + a.batch - 1) // a.batch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=max(a.epochs * iters, 1),
                                                pct_start=0.15)
    sync = torch.cuda.synchronize if a.device == "cuda" else (lambda: None)
    print(f"torch {torch.__version__} on {torch.cuda.get_device_name() if a.device == 'cuda' else 'the CPU'}: "
          f"{xtr.shape[0]} train / {xte.shape[0]} test images, mode {a.mode}, {a.epochs} epochs", flush=True)
    best, train_time = 0.0, 0.0
    for epoch in range(1, a.epochs + 1):
        sync()
        t0 = time.perf_counter()
        model.train()
        perm = torch.randperm(xtr.shape[0], device=dev, generator=gen)
        loss_sum = torch.zeros((), device=dev)
        for i in range(iters):
            idx = perm[i * a.batch:(i + 1) * a.batch]
            x = augment(xtr[idx], gen).contiguous(memory_format=fmt)
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=channels_last):
                loss = F.cross_entropy(model(x), ytr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.detach() * idx.shape[0]
        model.eval()
        correct = torch.zeros((), device=dev, dtype=torch.int64)
        with torch.no_grad(), torch.autocast(dev.type, dtype=torch.bfloat16, enabled=channels_last):
            for i in range(0, xte.shape[0], a.batch):
                x = normalize(xte[i:i + a.batch]).contiguous(memory_format=fmt)
                correct += (model(x).argmax(1) == yte[i:i + a.batch]).sum()
        sync()
        seconds = time.perf_counter() - t0
        train_time += seconds
        acc = 100.0 * correct.item() / xte.shape[0]
        best = max(best, acc)
        print(f"epoch {epoch}/{a.epochs}  train loss {loss_sum.item() / xtr.shape[0]:.4f}  val top1 {acc:.2f}%  "
              f"{seconds:.2f} s", flush=True)
    print(f"RESULT torch-train {a.mode} epochs {a.epochs}: best top-1 {best:.2f} % train {train_time:.1f} s "
          f"total {time.perf_counter() - t_start:.1f} s", flush=True)


if __name__ == "__main__":
    main()
