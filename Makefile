# ddbpipe: everything installs from this repository's own files into .venv and .cache.
#   make setup  - .venv (ddbpipe + its dev tools from dev/), jars from Maven Central, dynalite from npm
#   make demo   - local stack up, sample table, export through Spark + connector, import, compare
#   make test   - the whole test suite (unit, functional on dynalite + moto server, e2e spark-submit)
#   make lint   - ruff + mypy
#   make bench  - benchmarks, results in docs/benchmarks.md

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CACHE  := $(abspath .cache)
export PIP_CACHE_DIR := $(CACHE)/pip
export npm_config_cache := $(CACHE)/npm
export SPARK_LOCAL_IP := 127.0.0.1

.PHONY: setup venv jars node wheelhouse test unit lint demo bench clean local-up local-down wheel

setup: venv jars node wheelhouse

venv: $(BIN)/.installed
# ddbpipe (editable, with the test and lint tools) and, beside it, ddbpipe-dev from dev/: the
# local stack, the sample table and the demo, which stay out of the wheel EMR nodes install.
$(BIN)/.installed: pyproject.toml dev/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]' -e ./dev
	touch $@

jars: $(CACHE)/jars/.resolved $(CACHE)/jars/ddbpipe-reader.jar
$(CACHE)/jars/.resolved: deps/pom.xml
	rm -rf $(CACHE)/jars
	cd deps && mvn -q -B -Dmaven.repo.local=$(CACHE)/m2 \
	  dependency:copy-dependencies -DoutputDirectory=$(CACHE)/jars -DincludeScope=runtime
	touch $@

# ddbpipe's own JVM code (jvm/: the export's bounded input format), built beside those jars.
$(CACHE)/jars/ddbpipe-reader.jar: $(CACHE)/jars/.resolved jvm/pom.xml $(wildcard jvm/src/main/java/dev/ddbpipe/reader/*.java)
	mvn -q -B -Dmaven.repo.local=$(CACHE)/m2 -f jvm/pom.xml package -Dddbpipe.build=$(CACHE)/jvm-build
	cp $(CACHE)/jvm-build/ddbpipe-reader.jar $@

node: $(CACHE)/node/.installed $(CACHE)/node-iam/.installed
$(CACHE)/node/.installed: deps/package.json deps/package-lock.json
	mkdir -p $(CACHE)/node
	cp deps/package.json deps/package-lock.json $(CACHE)/node/
	cd $(CACHE)/node && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Test-only: the IAM policy evaluator the policy tests run (tests/support/iam_eval.py).
$(CACHE)/node-iam/.installed: deps/iam-eval/package.json deps/iam-eval/package-lock.json
	mkdir -p $(CACHE)/node-iam
	cp deps/iam-eval/package.json deps/iam-eval/package-lock.json $(CACHE)/node-iam/
	cd $(CACHE)/node-iam && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The wheels EMR nodes install offline (ddbpipe's pinned dependencies and pip) for this machine's
# architecture, so the rehearsal test (tests/e2e/test_rehearsal.py) needs no network.
wheelhouse: venv
	$(BIN)/python -m ddbpipe.cluster.wheelhouse

# Most of the suite's time is waiting (throttled rates, retry windows, JVM starts), not CPU: four
# workers, each with its own local servers; the rate-measuring tests share one worker (xdist_group).
TEST_WORKERS ?= 4
test: setup
	$(BIN)/pytest -q -ra -n $(TEST_WORKERS) --dist loadgroup

unit: venv
	$(BIN)/pytest -q tests/unit

lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy

demo: setup
	$(BIN)/python -m ddbpipe_dev.demo

bench: setup
	$(BIN)/pip install -q -e '.[dev,bench]' -e ./dev
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.resume
	$(BIN)/python -m bench.export_writer

local-up: setup
	$(BIN)/ddbpipe local up

local-down:
	$(BIN)/ddbpipe local down

wheel: venv
	$(BIN)/python -m build --wheel --outdir dist .

clean:
	rm -rf $(VENV) dist build *.egg-info dev/build dev/*.egg-info
