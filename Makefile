PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install clean

$(STAMP): pyproject.toml
	@command -v $(PY) >/dev/null 2>&1 || { echo "need $(PY) on PATH (or run: make PY=python3 ...)"; exit 2; }
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip>=23" "setuptools<81" wheel
	# the pinned CPU build first: any other spelling pulls a multi-GB CUDA build
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

DEMO := out/demo

# The whole story on CartPole: check the specs, verify the dense zoo policy, prune and
# repair it, verify the sparse policy. Exit codes 1 (counterexample found) are part of
# the story, so they do not stop the demo.
demo: $(STAMP)
	$(BIN)/sanp check specs/*.stl
	mkdir -p $(DEMO)
	$(BIN)/sanp verify zoo/cartpole/dense.onnx specs/cartpole.stl --budget 60 --all \
		--json $(DEMO)/verify_dense.json --plots $(DEMO)/verify_dense || [ $$? -eq 1 ]
	$(BIN)/sanp prune zoo/cartpole/dense.onnx specs/cartpole.stl -o $(DEMO)/sparse.onnx \
		--criterion activation --report $(DEMO)/prune.json --plots $(DEMO)/prune || [ $$? -eq 1 ]
	$(BIN)/sanp verify $(DEMO)/sparse.onnx specs/cartpole.stl --budget 60 --all \
		--json $(DEMO)/verify_sparse.json --plots $(DEMO)/verify_sparse || [ $$? -eq 1 ]
	@echo
	@echo "demo outputs in $(DEMO)/: sparse.onnx (the pruned policy), prune.json and"
	@echo "verify_*.json (reports), prune/*.png and verify_*/*.png (plots)"

test: $(STAMP)
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) build *.egg-info
