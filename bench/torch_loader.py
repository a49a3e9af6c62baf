#!/usr/bin/env python3
"""bench/torch_loader.py -- the PyTorch twin of bench/bench_loader.lua.

The same synthetic CIFAR-10-format data (50,000 training images in the binary
release's layout, written to the same folder by the same generator when it is
not there yet) through torchvision's version of the reference recipe's training pipeline
(RandomCrop(32, padding=4), RandomHorizontalFlip(), ToTensor(), Normalize) in a
torch.utils.data.DataLoader with batch 128, shuffling and the same numbers of
workers (processes here, threads in luatrain), on the CPU. Prints images/s per
worker count, measured after one warm-up epoch, like the Lua benchmark.

    python3 bench/torch_loader.py [--epochs 2] [--workers 0,1,2]
                                  [--data /tmp/luatrain-bench-cifar] [--pin-memory]

The dataset class reads the binary files into one uint8 array and returns PIL
images, as torchvision.datasets.CIFAR10 does with its pickled release, so the
per-sample work is the reference recipe's. Needs torch, torchvision, numpy and Pillow.
"""
import argparse
import os
import time

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

RECORD = 3073  # 1 label byte + 3 * 32 * 32 pixel bytes
FILES = ["data_batch_%d.bin" % b for b in range(1, 6)] + ["test_batch.bin"]


def write_dataset(folder):
    """The bytes bench_loader.lua writes: 97 distinct pseudo-random images
    (a 31-bit LCG), image (id % 97) with label id % 10 for id = 1..60000."""
    os.makedirs(folder, exist_ok=True)
    test = os.path.join(folder, "test_batch.bin")
    if os.path.exists(test) and os.path.getsize(test) == 10000 * RECORD:
        return False
    rng = 12345
    pix = []
    for _ in range(97):
        img = bytearray(3072)
        for j in range(3072):
            rng = (rng * 1103515245 + 12345) % 2147483648
            img[j] = (rng >> 16) & 255
        pix.append(bytes(img))
    for b, name in enumerate(FILES):
        with open(os.path.join(folder, name), "wb") as f:
            for i in range(1, 10001):
                ident = b * 10000 + i
                f.write(bytes([ident % 10]))
                f.write(pix[ident % 97])
    return True


class CIFAR10Binary(Dataset):
    """The binary release's training split, served as torchvision's CIFAR10
    serves the pickled one: (transform(PIL image), int label)."""

    def __init__(self, folder, transform):
        recs = [np.fromfile(os.path.join(folder, n), dtype=np.uint8).reshape(-1, RECORD) for n in FILES[:5]]
        rec = np.concatenate(recs)
        self.targets = rec[:, 0].astype(np.int64)
        self.data = np.ascontiguousarray(rec[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))  # HWC
        self.transform = transform

    def __len__(self):
        return len(self.data)

    def __getitem__(self, i):
        return self.transform(Image.fromarray(self.data[i])), int(self.targets[i])


def rate(ds, workers, epochs, pin_memory):
    loader = DataLoader(ds, batch_size=128, shuffle=True, num_workers=workers, pin_memory=pin_memory,
                        persistent_workers=workers > 0)
    for _ in loader:  # warm-up: starts the workers
        pass
    start, n = time.perf_counter(), 0
    for _ in range(epochs):
        for images, labels in loader:
            n += images.shape[0]
    return n / (time.perf_counter() - start)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--workers", default="0,1,2", help="comma-separated worker counts")
    ap.add_argument("--data", default="/tmp/luatrain-bench-cifar")
    ap.add_argument("--pin-memory", action="store_true")
    args = ap.parse_args()

    t0 = time.perf_counter()
    wrote = write_dataset(args.data)
    mean, std = (0.4914, 0.4822, 0.4465), (0.2471, 0.2435, 0.2616)
    tf = transforms.Compose([transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(),
                             transforms.ToTensor(), transforms.Normalize(mean, std)])
    ds = CIFAR10Binary(args.data, tf)
    print("data: %d images in %s (%s, %.1f s)" % (len(ds), args.data, "written" if wrote else "already there",
                                                   time.perf_counter() - t0))
    print("torch %s, torchvision transforms, %d CPU threads" % (torch.__version__, torch.get_num_threads()))
    torch.manual_seed(1)
    for w in [int(x) for x in args.workers.split(",")]:
        r = rate(ds, w, args.epochs, args.pin_memory)
        print("torch DataLoader, recipe pipeline, batch 128, %d worker%s: %.0f images/s" % (w, "" if w == 1 else "s", r))


if __name__ == "__main__":
    main()
