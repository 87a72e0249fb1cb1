# The template repository: render it, demo it, test it. `make help` lists the targets.
VENV ?= .venv
PYTHON := $(VENV)/bin/python
BUILD := build
SLUG := ctr-serving
TEMPLATE := {{cookiecutter.project_slug}}
TEMPLATE_FILES := $(shell find '$(TEMPLATE)' hooks packages cookiecutter.json local_extensions.py -type f -not -path '*/__pycache__/*' -not -path '*/build/*' -not -path '*.egg-info/*' -not -path '*/.hypothesis/*' -not -path '*/.pytest_cache/*' 2>/dev/null | sed 's/ /\\ /g')
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help venv render demo test lint docs docs-serve figures clean

help: ## Show this help
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36m%-11s\033[0m %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.txt docs/requirements.txt $(TEMPLATE)/requirements.txt $(wildcard packages/*/pyproject.toml)
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	# The packages in packages/ installed editable: they satisfy the generated project's pins
	# (embedded-tfserving==<version>), and their tests and every rendering run the source here.
	$(PYTHON) -m pip install --quiet -r requirements.txt $(foreach package,$(wildcard packages/*),-e $(package))
	touch $@

venv: $(VENV)/.installed ## Create .venv with the template's pinned tools (TensorFlow included)

# Re-render only when the template changed. Rendering over the old copy rewrites the template's
# files and keeps what the project made (artifacts/, models/, reports/).
$(BUILD)/$(SLUG)/.rendered: $(TEMPLATE_FILES) | $(VENV)/.installed
	$(VENV)/bin/cookiecutter --no-input --overwrite-if-exists -o $(BUILD) .
	touch $@

render: $(BUILD)/$(SLUG)/.rendered ## Render the template with its defaults into build/

demo: render ## Render, then train, export, verify, serve, load-test and stop in the generated project
	$(MAKE) -C $(BUILD)/$(SLUG) demo VENV=$(abspath $(VENV))

# Two lanes (pytest-xdist): the tests that use the default ports (the demo, the labs, the site) run
# one after another in one lane; every other test, the default rendering's suite the longest, runs
# wherever a lane is free (tests/conftest.py). TEST_LANES=0 runs everything in this process.
TEST_LANES ?= 2

test: venv ## Run the template's tests (renders several variants, lints them and runs their suites)
	$(PYTHON) -m pytest tests $(if $(filter 0,$(TEST_LANES)),,-n $(TEST_LANES)) $(PYTEST_ARGS)

lint: venv ## Check the repo's own Python (hooks, tests, packages/) with ruff and mypy (renderings: `make test`)
	$(PYTHON) -m ruff check hooks tests local_extensions.py site_hooks.py
	$(PYTHON) -m mypy
	for package in packages/*/; do (cd $$package && $(abspath $(PYTHON)) -m ruff check . && $(abspath $(PYTHON)) -m mypy) || exit 1; done

# The workshop site (mkdocs.yml). Its figures come from the labs' own test run, made here when missing.
FIGURES := $(or $(WORKSHOP_FIGURES),$(BUILD)/workshop-figures)
export NO_MKDOCS_2_WARNING := 1

figures: venv ## Run the workshop's labs (about 8 minutes) and keep their figures for the site in build/workshop-figures
	$(PYTHON) -m pytest tests/test_workshop.py $(PYTEST_ARGS)

$(FIGURES)/figures.json:
	$(MAKE) figures

docs: venv $(FIGURES)/figures.json ## Build the workshop site into build/site (strict: a broken link or a missing page fails)
	$(PYTHON) -m mkdocs build --strict

docs-serve: venv $(FIGURES)/figures.json ## Serve the workshop site at http://127.0.0.1:8000, rebuilt on every edit
	$(PYTHON) -m mkdocs serve --strict --dev-addr 127.0.0.1:8000

clean: ## Remove build/ (rendered projects)
	rm -rf $(BUILD)
