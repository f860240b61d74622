# One entry point for people and CI. Every target installs what it needs first.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
# The SageMaker Python SDK lives in a venv of its own (see requirements-sdk.in for why).
SDK_VENV := .venv-sdk
SDK_STAMP := $(SDK_VENV)/.installed
CDK := node_modules/.bin/cdk
# The console's browser test drives Debian's Chromium through Playwright (never Playwright's own download).
CHROMIUM := /usr/bin/chromium
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1
export CDK_DISABLE_VERSION_CHECK := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export JSII_DEPRECATED := quiet
export AWS_EC2_METADATA_DISABLED := true
PYTEST_ARGS ?=

.PHONY: install test synth deploy destroy snapshot-update demo bench bench-recipes profile lint lock lock-sdk clean

install: $(STAMP) $(SDK_STAMP) node_modules/.installed $(CHROMIUM)

# editable_mode=compat puts the checkout itself on sys.path: a top-level package added later (e.g. after
# a pull) is importable by `.venv/bin/scones` at once, where the default mode maps only the packages
# that existed at install time.
$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip==25.3
	$(PIP) install -q -c requirements.lock --config-settings editable_mode=compat -e ".[test,bench]"
	touch $@

$(SDK_STAMP): requirements-sdk.lock
	test -x $(SDK_VENV)/bin/python || python3 -m venv $(SDK_VENV)
	$(SDK_VENV)/bin/pip install -q --upgrade pip==25.3
	$(SDK_VENV)/bin/pip install -q -r requirements-sdk.lock
	touch $@

# Debian's chromium + chromium-driver, when missing: as root (CI, no stdin) or through password-less sudo.
# Not version-pinned: Debian replaces the package with each security update and drops the old one from
# its mirrors, so a pinned version would stop installing; Playwright drives any current Chromium.
$(CHROMIUM):
	@command -v apt-get >/dev/null || { echo "install Chromium at $(CHROMIUM) for the console's browser test" >&2; exit 1; }
	@if [ "$$(id -u)" = 0 ]; then sudo=; else sudo="sudo -n"; fi; \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null && \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends chromium chromium-driver </dev/null

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

test: install
	$(PY) -m pytest -n 2 --dist loadfile $(PYTEST_ARGS)

synth: install
	rm -rf cdk.out
	$(CDK) synth --quiet --no-notices --output cdk.out
	@ls cdk.out/*.template.json

deploy: install
	$(CDK) deploy --all --require-approval broadening

destroy: install
	$(CDK) destroy --all

snapshot-update: install
	$(PY) -m pytest tests -k snapshot --snapshot-update $(PYTEST_ARGS)

demo: install
	$(VENV)/bin/scones demo

# bench-model keeps the model it trained (the default recipe) where the demo's cache looks, so
# bench-workflow reuses it instead of training the same recipe a second time.
bench: install
	$(VENV)/bin/scones bench-model --out artifacts
	$(VENV)/bin/scones bench-training
	$(VENV)/bin/scones bench-workflow

# The training-recipe comparison behind the README's recipe table (cross-validation; hours on 2 cores):
# the recipes and folds of the recorded run (benchmarks/training-recipes-*.md); resumes from reports/recipes.jsonl.
# Then the confirmation of the chosen default against the former one on 5 other folds (a new partition).
RECIPES_COMPARED ?= r240,r120,r90,w16-r240,w16-r240-ls1,w16-m2-r120,w16-r300
RECIPES_CONFIRMED ?= r240,w16-r300
bench-recipes: install
	$(VENV)/bin/scones bench-recipes --recipes $(RECIPES_COMPARED) --folds 3 --out reports/recipes.jsonl --report reports/training-recipes.md
	$(VENV)/bin/scones bench-recipes --recipes $(RECIPES_CONFIRMED) --folds 5 --out reports/recipes-k5.jsonl --report reports/training-recipes-k5.md

# Where the local runtime's time goes: py-spy samples `scones bench-workflow` at concurrency 8
# (every thread, native frames off) into a flame graph. Needs ptrace (root, or CAP_SYS_PTRACE).
PROFILE_OUT ?= reports/profile-workflow.svg
profile: install
	mkdir -p $(dir $(PROFILE_OUT))
	$(VENV)/bin/py-spy record --rate 100 --output $(PROFILE_OUT) -- $(VENV)/bin/scones bench-workflow --concurrency 8
	@echo "flame graph: $(PROFILE_OUT)"

# Refresh the frozen dependency set after changing pins in pyproject.toml.
lock:
	$(PIP) freeze --exclude-editable | grep -v '^-e ' > requirements.lock

# Refresh the SDK venv's frozen set after changing requirements-sdk.in.
lock-sdk:
	rm -rf $(SDK_VENV) && python3 -m venv $(SDK_VENV)
	$(SDK_VENV)/bin/pip install -q --upgrade pip==25.3
	$(SDK_VENV)/bin/pip install -q -r requirements-sdk.in
	$(SDK_VENV)/bin/pip freeze > requirements-sdk.lock
	touch $(SDK_STAMP)

clean:
	rm -rf cdk.out .pytest_cache build
