# newsbeam: `make run` (the pipeline on seeds/) and `make test`, from a clean checkout.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
OUT ?= out/seeds
STAMP := $(VENV)/.installed

.PHONY: install run test test-runners bench clean

install: $(STAMP)

# Pinned by constraints.txt (pip freeze of a working install), so every machine gets the same versions.
$(STAMP): setup.py constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

run: install
	$(VENV)/bin/newsbeam run --input seeds/000_985378199c8bf71d.txt --feed seeds/world-desk.rss --output $(OUT)
	@echo; echo "== articles per day"
	@$(VENV)/bin/newsbeam query --output $(OUT) "SELECT date, count(*) AS articles, count(*) FILTER (WHERE duplicate_of IS NULL) AS unique_articles FROM articles GROUP BY date ORDER BY date"
	@echo; echo "== top entities"
	@$(VENV)/bin/newsbeam query --output $(OUT) "SELECT canonical, label, count(*) AS mentions FROM entities GROUP BY ALL ORDER BY mentions DESC, canonical LIMIT 10"
	@echo; echo "== quotes with speakers"
	@$(VENV)/bin/newsbeam query --output $(OUT) "SELECT speaker, speaker_label, cue, kind, text FROM quotes ORDER BY article_id, start LIMIT 25"

test: install
	$(PY) -m pytest -q tests

test-runners: install
	$(PY) -m pytest -q -m runners tests

bench: install
	$(PY) bench/run_bench.py

clean:
	rm -rf out build *.egg-info
