#!/usr/bin/env bash
# Downloads the CIFAR-10 binary version into data/ of the current folder,
# where the training scripts look for it, and checks its published MD5
# checksum before unpacking (data/cifar-10-batches-bin/). Needs network
# access; says so clearly when there is none. Installed as
# <prefix>/share/luatrain/scripts/get_cifar10.sh.
set -euo pipefail
url="https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
md5="c32a1d4ab5d03f1284b67883e8d87530" # published on the CIFAR page
mkdir -p data
if [ -f data/cifar-10-batches-bin/test_batch.bin ]; then
  echo "CIFAR-10 is already in data/cifar-10-batches-bin"
  exit 0
fi
archive=data/cifar-10-binary.tar.gz
if ! command -v curl >/dev/null; then
  echo "get_cifar10: curl is not installed (apt-get install curl)" >&2
  exit 1
fi
if [ -f "$archive" ]; then
  echo "using $archive found in data/"
elif ! curl -fL --connect-timeout 15 -o "$archive.part" "$url"; then
  rm -f "$archive.part"
  echo "get_cifar10: could not download $url (no network?)." >&2
  echo "Copy cifar-10-binary.tar.gz into data/ by hand and run this script again," >&2
  echo "or train on Fashion-MNIST: luatrain scripts/cifar_resnet18.lua --dataset fashion-mnist" >&2
  exit 1
fi
[ -f "$archive.part" ] && mv "$archive.part" "$archive"
got=$(md5sum "$archive" | cut -d' ' -f1)
if [ "$got" != "$md5" ]; then
  echo "get_cifar10: checksum mismatch for $archive: got $got, expected $md5" >&2
  rm -f "$archive"
  exit 1
fi
tar -xzf "$archive" -C data
rm -f "$archive"
echo "CIFAR-10 unpacked into data/cifar-10-batches-bin"
