#!/usr/bin/env bash
# Benchmarks use the full Fashion-MNIST from Debian's dataset-fashion-mnist (MIT licence).
set -euo pipefail
if [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || [ -n "${FASHION_MNIST_DIR:-}" ]; then
  exit 0
fi
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq dataset-fashion-mnist
