"""torch_cpu_twin.py — the PyTorch twins of luatrain's CPU workloads, written
the way a PyTorch user would write them on the CPU, so that `make bench`
(bench/cpu_twin.sh) can time luatrain against PyTorch on the same machine
with the same number of threads. Three workloads:

  demo   what `make demo` trains (luatrain scripts/cifar_resnet18.lua --demo):
         the reference recipe's ResNet18 (bench/torch_resnet18.py's model) at
         width 8 with 1 input channel on Fashion-MNIST (Debian's
         dataset-fashion-mnist), cross-entropy, SGD (momentum 0.9, Nesterov,
         weight decay 5e-4), OneCycleLR (max_lr 0.1, pct_start 0.15, stepped
         every batch), batch 128, 3 epochs, validation on the 10k test set
         after each epoch. The batches come from a torch.utils.data.DataLoader
         with 2 worker processes doing torchvision's RandomCrop(28, padding=4),
         RandomHorizontalFlip, ToTensor and Normalize(0.2860, 0.3530) on PIL
         images, as torchvision.datasets.FashionMNIST serves them (luatrain's
         loader does the same with 2 worker threads). Times the training and
         validation loop (luatrain's `wall_time` in metrics.jsonl measures the
         same span) and reports the last and best validation top-1.
  step   the twin of bench/bench_resnet_cpu.lua: ResNet18 at width 64 on a
         random 32x3x32x32 batch, one full step (forward, cross-entropy,
         backward, SGD with momentum 0.9 and weight decay 1e-4, reading the
         loss); one unmeasured step, then `--steps` timed ones; reports the
         best (the figure bench_resnet_cpu.lua prints) and the median.
  eval   the twin of bench/bench_eval_cpu.lua: the width-8 demo ResNet18 in
         eval mode under torch.no_grad over the 10k Fashion-MNIST test set,
         batch 128, from a DataLoader with 2 workers doing ToTensor and
         Normalize; one unmeasured pass, then the best of `--reps` passes.

Runs on `--threads` threads (torch.set_num_threads, default 2; the loader's
worker processes use one each, as PyTorch sets them). Prints what it does and
one line for bench/cpu_twin.sh:

  RESULT torch demo seconds S acc LAST best BEST
  RESULT torch step seconds S median M
  RESULT torch eval seconds S images_per_s R

Usage: /usr/bin/python3 bench/torch_cpu_twin.py --workload demo|step|eval
       [--threads 2] [--epochs 3] [--limit-train N] [--limit-test N]
       [--data /usr/share/datasets/fashion-mnist] [--steps 5] [--reps 2]
Needs Debian's python3-torch and python3-torchvision (bash scripts/install-deps.sh bench).
"""
import argparse
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from torch_resnet18 import ResNet
from torch_train_fashion import MEAN, STD, find, read_idx

WORKERS = 2
BATCH = 128


class FashionMNIST(Dataset):
    """Fashion-MNIST from the IDX files, served as torchvision.datasets.FashionMNIST
    serves it: (transform(PIL image), int label)."""

    def __init__(self, root, train, transform, limit=0):
        prefix = "train" if train else "t10k"
        self.data = torch.from_numpy(read_idx(find(root, f"{prefix}-images-idx3-ubyte")).copy())
        self.targets = torch.from_numpy(read_idx(find(root, f"{prefix}-labels-idx1-ubyte")).astype(np.int64))
        if limit > 0:
            self.data, self.targets = self.data[:limit], self.targets[:limit]
        self.transform = transform

    def __len__(self):
        return len(self.data)

    def __getitem__(self, i):
        return self.transform(Image.fromarray(self.data[i].numpy(), mode="L")), int(self.targets[i])


def test_loader(root, limit=0):
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((MEAN,), (STD,))])
    return DataLoader(FashionMNIST(root, False, tf, limit), batch_size=BATCH, shuffle=False, num_workers=WORKERS,
                      persistent_workers=True)


def evaluate(model, loader, fmt=torch.contiguous_format):
    """Top-1 accuracy in percent."""
    model.eval()
    correct, n = 0, 0
    with torch.no_grad():
        for x, y in loader:
            correct += (model(x.contiguous(memory_format=fmt)).argmax(1) == y).sum().item()
            n += y.shape[0]
    return 100.0 * correct / n


def demo(a):
    torch.manual_seed(1)
    tf = transforms.Compose([transforms.RandomCrop(28, padding=4), transforms.RandomHorizontalFlip(),
                             transforms.ToTensor(), transforms.Normalize((MEAN,), (STD,))])
    train_set = FashionMNIST(a.data, True, tf, a.limit_train)
    gen = torch.Generator()
    gen.manual_seed(1)
    train = DataLoader(train_set, batch_size=BATCH, shuffle=True, num_workers=WORKERS, persistent_workers=True,
                       generator=gen)
    test = test_loader(a.data, a.limit_test)
    # luatrain's demo preset trains in channels-last on the CPU; so does its twin
    fmt = torch.channels_last if a.channels_last else torch.contiguous_format
    model = ResNet(num_classes=10, width=8, in_channels=1).to(memory_format=fmt)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4, nesterov=True)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=max(a.epochs * len(train), 1),
                                                pct_start=0.15)
    print(f"torch {torch.__version__} on the CPU, {torch.get_num_threads()} threads: demo, ResNet18 width 8, "
          f"{'channels-last, ' if a.channels_last else ''}{len(train_set)} train / {len(test.dataset)} test images, "
          f"{a.epochs} epochs, {WORKERS} loader workers",
          flush=True)
    best, acc = 0.0, 0.0
    t0 = time.perf_counter()
    for epoch in range(1, a.epochs + 1):
        model.train()
        loss_sum, correct, seen = 0.0, 0, 0
        for x, y in train:
            out = model(x.contiguous(memory_format=fmt))
            loss = F.cross_entropy(out, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.item() * y.shape[0]
            correct += (out.detach().argmax(1) == y).sum().item()
            seen += y.shape[0]
        acc = evaluate(model, test, fmt)
        best = max(best, acc)
        print(f"epoch {epoch}/{a.epochs}  train loss {loss_sum / seen:.4f} top1 {100.0 * correct / seen:.2f}%  |  "
              f"val top1 {acc:.2f}%  |  {time.perf_counter() - t0:.1f} s so far", flush=True)
    seconds = time.perf_counter() - t0
    print(f"RESULT torch demo seconds {seconds:.2f} acc {acc:.2f} best {best:.2f}", flush=True)


def step(a):
    torch.manual_seed(0)
    model = ResNet(num_classes=10, width=64, in_channels=3)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    x = torch.randn(32, 3, 32, 32)
    y = torch.randint(0, 10, (32,))
    print(f"torch {torch.__version__} on the CPU, {torch.get_num_threads()} threads: ResNet18 w64 batch 32 step, "
          f"1 warm-up + {a.steps} timed steps", flush=True)
    times = []
    for i in range(a.steps + 1):
        t0 = time.perf_counter()
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss.item()
        if i > 0:  # the first step warms caches
            times.append(time.perf_counter() - t0)
    best, median = min(times), statistics.median(times)
    print(f"ResNet18 w64 batch 32 step  {best:.3f} s  {32 / best:.1f} img/s  (median {median:.3f} s)")
    print(f"RESULT torch step seconds {best:.4f} median {median:.4f}", flush=True)


def eval_pass(a):
    loader = test_loader(a.data, a.limit_test)
    torch.manual_seed(1)
    model = ResNet(num_classes=10, width=8, in_channels=1).eval()
    print(f"torch {torch.__version__} on the CPU, {torch.get_num_threads()} threads: ResNet18 w8 eval, "
          f"{len(loader.dataset)} test images, batch {BATCH}, {WORKERS} loader workers", flush=True)
    evaluate(model, loader)  # starts the workers
    best = float("inf")
    for _ in range(a.reps):
        t0 = time.perf_counter()
        evaluate(model, loader)
        best = min(best, time.perf_counter() - t0)
    n = len(loader.dataset)
    print(f"ResNet18 w8 eval of the Fashion-MNIST test set  {best:.3f} s  {n / best:.0f} img/s")
    print(f"RESULT torch eval seconds {best:.4f} images_per_s {n / best:.1f}", flush=True)


def main():
    ap = argparse.ArgumentParser(description="PyTorch twins of luatrain's CPU workloads")
    ap.add_argument("--workload", required=True, choices=["demo", "step", "eval"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--channels-last", action="store_true", help="demo: model and batches in channels-last")
    ap.add_argument("--limit-train", type=int, default=0)
    ap.add_argument("--limit-test", type=int, default=0)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--reps", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    {"demo": demo, "step": step, "eval": eval_pass}[a.workload](a)


if __name__ == "__main__":
    main()
