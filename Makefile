# newsbeam: `make run` (the pipeline on seeds/) and `make test`, from a clean checkout.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
OUT ?= out/seeds
STAMP := $(VENV)/.installed
# Streams run on Prism, Beam's portable local runner, built from its Go module
# (never downloaded as a binary at run time).
BEAM_VERSION := 2.77.0
PRISM := .cache/bin/prism
# The Flink job server is only available for Beam 2.62.0 (see README, Runners and
# clusters); the main install's SDK (2.77) submits to it, so no second Beam virtualenv.
# Airflow (the scheduling tests) gets its own virtualenv, pinned by constraints-airflow.txt.
AIRFLOW_VENV := .venv-airflow
AIRFLOW_STAMP := $(AIRFLOW_VENV)/.installed

.PHONY: install prism chromium flink airflow run test test-runners lint bench bench-scale bench-cluster clean

install: $(STAMP)

# Pinned by constraints.txt (pip freeze of a working install), so every machine gets the same versions.
$(STAMP): setup.py constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test,report]'
	touch $(STAMP)

prism: $(PRISM)

$(PRISM):
	@command -v go >/dev/null || { echo "need go to build Prism"; exit 1; }
	GOBIN=$(CURDIR)/.cache/bin go install github.com/apache/beam/sdks/v2/go/cmd/prism@v$(BEAM_VERSION)

# Beam's Flink job server (assembled from Maven Central); its lib/ also runs the Flink
# session cluster of the tests (scripts/flink_cluster.sh).
flink:
	bash scripts/fetch_flink_jobserver.sh >/dev/null

airflow: $(AIRFLOW_STAMP)

$(AIRFLOW_STAMP): constraints-airflow.txt
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON)"; exit 1; }
	test -x $(AIRFLOW_VENV)/bin/python || $(PYTHON) -m venv $(AIRFLOW_VENV)
	$(AIRFLOW_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(AIRFLOW_VENV)/bin/python -m pip install --quiet -c constraints-airflow.txt \
		apache-airflow apache-airflow-providers-apache-beam apache-airflow-providers-google
	touch $(AIRFLOW_STAMP)

run: install
	$(VENV)/bin/newsbeam run --input seeds/000_985378199c8bf71d.txt --feed seeds/world-desk.rss --output $(OUT)
	@echo; echo "== articles per day"
	@$(VENV)/bin/newsbeam query --output $(OUT) "SELECT date, count(*) AS articles, count(*) FILTER (WHERE duplicate_of IS NULL) AS unique_articles FROM articles GROUP BY date ORDER BY date"
	@echo; echo "== top entities"
	@$(VENV)/bin/newsbeam query --output $(OUT) "SELECT arg_max(canonical, length(canonical)) AS entity, mode(label) AS label, count(*) AS mentions FROM entities_resolved WHERE resolved_key IS NOT NULL GROUP BY resolved_key ORDER BY mentions DESC, entity LIMIT 10"
	@echo; echo "== quotes with speakers"
	@$(VENV)/bin/newsbeam query --output $(OUT) "SELECT speaker, speaker_label, cue, kind, text FROM quotes ORDER BY article_id, start LIMIT 25"

test: install prism chromium
	$(PY) -m pytest -q

# Debian's Chromium for tests/test_report.py (playwright drives it; no browser download).
chromium:
	@command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

# Other runners, a real Flink session cluster, and the scheduling recipes (cron, systemd, Airflow).
test-runners: install flink airflow
	$(PY) -m pytest -q -m "runners or long"

# ruff (lint and format) and mypy (configured in ruff.toml and mypy.ini, with reasons).
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

bench: install
	$(PY) bench/run_bench.py

# --no-nlp over 100k and 1M generated articles (one JSON-lines file, and many files):
# articles/s, peak memory of all processes, largest band bucket, syndication P/R. About 1.5 h.
bench-scale: install
	$(PY) bench/scale.py

# NLP on the Flink session cluster and on the local runner, 2,000 bench articles side by
# side: articles/s, peak memory per process (JVMs and Python), tables equal. About 25 min.
bench-cluster: install flink
	$(PY) bench/cluster_nlp.py

clean:
	rm -rf out build *.egg-info
