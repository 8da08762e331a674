PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install clean browser compiler docs wheel-check

$(STAMP): pyproject.toml
	@command -v $(PY) >/dev/null 2>&1 || { echo "need $(PY) on PATH (or run: make PY=python3 ...)"; exit 2; }
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip>=23" "setuptools<81" wheel
	# the pinned CPU build first: any other spelling pulls a multi-GB CUDA build
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dev,docs,all]"
	touch $(STAMP)

install: $(STAMP)

DEMO := out/demo

# The whole story on CartPole over its whole 500-step episode: check the specs, verify
# the dense zoo policy, prune and repair it, verify the sparse policy. Exit codes 1
# (counterexample found) are part of the story, so they do not stop the demo.
demo: $(STAMP)
	$(BIN)/sanp check specs/*.stl
	mkdir -p $(DEMO)
	$(BIN)/sanp verify zoo/cartpole/dense.onnx specs/cartpole_full.stl --budget 60 --all \
		--json $(DEMO)/verify_dense.json --plots $(DEMO)/verify_dense || [ $$? -eq 1 ]
	$(BIN)/sanp prune zoo/cartpole/dense.onnx specs/cartpole_full.stl -o $(DEMO)/sparse.onnx \
		--report $(DEMO)/prune.json --plots $(DEMO)/prune || [ $$? -eq 1 ]
	$(BIN)/sanp verify $(DEMO)/sparse.onnx specs/cartpole_full.stl --budget 60 --all \
		--json $(DEMO)/verify_sparse.json --plots $(DEMO)/verify_sparse || [ $$? -eq 1 ]
	$(BIN)/sanp report $(DEMO)/prune.json -o $(DEMO)/prune.html --image weights=$(DEMO)/prune/weights.png
	$(BIN)/sanp export $(DEMO)/sparse.onnx -o $(DEMO)/policy.c
	@echo
	@echo "demo outputs in $(DEMO)/: sparse.onnx (the pruned policy, compacted), policy.c and policy.h"
	@echo "(it as C), prune.html (the run as one page), prune.json and verify_*.json (reports),"
	@echo "prune/*.png and verify_*/*.png (plots)"

test: $(STAMP) browser compiler wheel-check
	$(BIN)/python -m pytest

# What `pip install sanp` gives a user: the wheel, built and installed into a fresh venv
# in a temporary directory without any extra (torch==2.13.0 first, from the local
# cache, as above), then `sanp check`, a 3-rollout `sanp verify` whose evaluations must
# equal the tree's, and `sanp prove` refusing in one line for want of `sanp[prove]`.
wheel-check: $(STAMP)
	$(BIN)/python benchmarks/wheel_install.py --python $(PY)

# The HTML report's test renders it in headless Chromium; install Debian's where this
# machine lets us (root with apt-get). Elsewhere that one test skips and says why.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      --no-install-recommends chromium >/dev/null) \
	    || echo "chromium could not be installed; the browser test will skip"; \
	  else echo "chromium not installed (needs root and apt-get); the browser test will skip"; fi; }

# The C export's tests compile the generated code with `cc`; install Debian's gcc where
# it is missing and this machine lets us (root with apt-get). Elsewhere they skip.
compiler:
	@command -v cc >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      --no-install-recommends gcc libc6-dev >/dev/null) \
	    || echo "gcc could not be installed; the C export tests will skip"; \
	  else echo "no C compiler (needs root and apt-get); the C export tests will skip"; fi; }

# The documentation site (MkDocs + Material) into site/, in strict mode: a broken link or
# anchor, a page missing from the nav or an API object mkdocstrings cannot find fails it.
# The CLI reference is generated from sanp/cli_parser.py (docs/hooks/cli_reference.py).
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/python -m mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) build *.egg-info site
