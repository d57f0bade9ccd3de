# Winnow: `make demo` and `make test` each do their own set-up on a fresh machine.
VENV := .venv
PY := $(VENV)/bin/python
export FIFTYONE_DO_NOT_TRACK := true

.PHONY: setup demo test bench bench-scale clean

setup:
	./scripts/setup.sh

demo: setup
	$(VENV)/bin/winnow demo

test: setup
	$(PY) -m pytest tests

bench: setup
	./scripts/fashion_mnist.sh
	$(PY) -m pip install -q -e ".[bench]"
	$(PY) benchmarks/embeddings.py
	$(PY) benchmarks/cam.py
	$(PY) benchmarks/filtering.py --seeds 10 --first-seed 10
	$(PY) benchmarks/filtering.py --pool 2000 --seeds 20 --no-timing
	$(PY) benchmarks/representatives.py
	$(PY) benchmarks/label_issues.py
	$(PY) benchmarks/approximations.py
	$(PY) benchmarks/image_issues.py
	$(PY) benchmarks/object_embeddings.py
	$(PY) benchmarks/object_label_issues.py --scenes 2000 --seeds 2
	$(PY) benchmarks/fine_tune.py --n 10000 --test 10000 --size 32 --epochs 2 --folds 3 --batch-size 32

# ~25 min on 2 cores (1 M embeddings per step, ~10 GB free memory): run on a quiet machine.
bench-scale: setup
	$(PY) benchmarks/scale.py
	$(PY) benchmarks/scale.py --sizes 100000 --dims 512 --steps outliers redundancy --no-writes

clean:
	rm -rf $(VENV) build *.egg-info
