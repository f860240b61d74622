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
export CDK_DISABLE_VERSION_CHECK := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export JSII_DEPRECATED := quiet
export AWS_EC2_METADATA_DISABLED := true
PYTEST_ARGS ?=

.PHONY: install test synth deploy destroy snapshot-update demo bench lint lock lock-sdk clean

install: $(STAMP) $(SDK_STAMP) node_modules/.installed

$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip==25.3
	$(PIP) install -q -c requirements.lock -e ".[test]"
	touch $@

$(SDK_STAMP): requirements-sdk.lock
	test -x $(SDK_VENV)/bin/python || python3 -m venv $(SDK_VENV)
	$(SDK_VENV)/bin/pip install -q --upgrade pip==25.3
	$(SDK_VENV)/bin/pip install -q -r requirements-sdk.lock
	touch $@

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

bench: install
	$(VENV)/bin/scones bench-model
	$(VENV)/bin/scones bench-workflow

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
