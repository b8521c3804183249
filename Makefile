# The two commands of the README's quick start: `make demo` and `make test`.
# Each installs what it needs when missing: Debian packages with apt-get
# (as root, or through sudo) and Python packages into .venv.

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
APT_PACKAGES := fuse3 libfuse3-dev pkg-config gcc xorriso genisoimage libarchive-tools \
	p7zip-full rsync attr
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test lint deps venv bench man clean

demo: deps venv
	./scripts/demo

test: deps venv lint
	$(PY) -m pytest -q

lint: venv
	$(VENV)/bin/ruff check cdfs tests bench
	$(VENV)/bin/ruff format --check cdfs tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy --strict bench

deps:
	@missing=""; for p in $(APT_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" \
			|| missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

# The man page is generated from the same parser as --help.
man: venv
	$(VENV)/bin/argparse-manpage --module cdfs.cli --function build_parser \
		--project-name cdfs --prog cdfs --version 0.1.0 \
		--description "burn discs like Windows XP did: the recorder as a file system" \
		--include man/cdfs.include --manual-title "cdfs manual" --output man/cdfs.1

bench: deps venv
	$(PY) -m bench

clean:
	rm -rf $(VENV) .demo .pytest_cache .mypy_cache .ruff_cache
