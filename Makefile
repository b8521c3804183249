# The commands of the README's quick start: `make demo`, `make test` and
# `make install`.  Each installs what it needs when missing: Debian packages
# with apt-get (as root, or through sudo) and Python packages into .venv.

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
APT_PACKAGES := fuse3 libfuse3-dev pkg-config gcc xorriso genisoimage libarchive-tools \
	p7zip-full rsync attr umockdev gir1.2-umockdev-1.0 python3-gi libglib2.0-bin dbus-daemon \
	desktop-file-utils libxml2-utils gir1.2-gtk-4.0 xvfb xdotool imagemagick groff-base
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# `make install` links .venv/bin/cdfs into BINDIR: ~/.local/bin, or
# /usr/local/bin as root (both on Debian's PATH once they exist).
PREFIX ?= $(if $(SUDO),$(HOME)/.local,/usr/local)
BINDIR ?= $(PREFIX)/bin

.PHONY: demo test vmtest lint deps venv install uninstall bench man clean

demo: deps venv
	./scripts/demo

test: deps venv lint $(VENV)/udev/udevadm
	$(PY) -m pytest -q

# The VM lane (tests/vm/run.sh): a Debian guest under QEMU with a real
# kernel, udev, systemd and CDEmu's recorder.  Root; QEMU and debootstrap
# are installed here when missing; network for the first image build only.
VM_APT_PACKAGES := qemu-system-x86 debootstrap
vmtest: deps venv
	@missing=""; for p in $(VM_APT_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" \
			|| missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing \
		|| { echo "vmtest: cannot install$$missing: the VM lane cannot run here" >&2; exit 1; }; \
	fi
	$(SUDO) tests/vm/run.sh

# A link, not a copy: the checkout stays the one installation (an editable
# install), and `make uninstall` or removing the link undoes it.  A file of
# that name that is not such a link is left alone.
install: venv
	@link="$(BINDIR)/cdfs"; target="$(abspath $(VENV))/bin/cdfs"; \
	if [ -e "$$link" ] && [ ! -L "$$link" ]; then \
		echo "$$link exists and is not a link made by 'make install': remove it first" >&2; \
		exit 1; fi; \
	mkdir -p "$(BINDIR)" && ln -sfn "$$target" "$$link" && echo "installed $$link -> $$target"; \
	case ":$$PATH:" in *":$(BINDIR):"*) ;; \
	*) echo "$(BINDIR) is not on your PATH yet: export PATH=\"$(BINDIR):\$$PATH\" (in ~/.profile to keep it)";; \
	esac

uninstall:
	@link="$(BINDIR)/cdfs"; \
	if [ -L "$$link" ] && [ "$$(readlink "$$link")" = "$(abspath $(VENV))/bin/cdfs" ]; then \
		rm "$$link" && echo "removed $$link"; fi

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

# An existing venv is updated in place with its own interpreter: making it
# again with whatever python3 is first on the PATH now would mix two Pythons.
$(VENV)/.installed: pyproject.toml
	[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

# Debian's udevadm for tests/test_system.py's `udevadm test` of the cdfs
# rule, taken out of the udev package rather than installing it: udev's
# postinst runs systemd-tmpfiles, which opens /dev/fuse to everyone (0666).
$(VENV)/udev/udevadm: | venv
	@rm -rf $(VENV)/udev.tmp && mkdir -p $(VENV)/udev.tmp && cd $(VENV)/udev.tmp && \
	if command -v udevadm >/dev/null; then ln -s "$$(command -v udevadm)" udevadm; else \
		apt-get download udev >/dev/null 2>&1 || \
		{ $(SUDO) apt-get update -qq && apt-get download udev; } && \
		dpkg-deb -x udev_*.deb root && mv root/bin/udevadm . && rm -rf root udev_*.deb; fi
	@rm -rf $(VENV)/udev && mv $(VENV)/udev.tmp $(VENV)/udev && echo "udevadm: $(VENV)/udev/udevadm"

# The man pages are generated: cdfs(1) from the same parser as --help,
# cdfs.conf(5) from the settings' definitions (cdfs/config.py).
man: venv
	$(VENV)/bin/argparse-manpage --module cdfs.cli --function build_parser \
		--project-name cdfs --prog cdfs --version 0.1.0 \
		--description "burn discs like Windows XP did: the recorder as a file system" \
		--include man/cdfs.include --manual-title "cdfs manual" --output man/cdfs.1
	$(PY) -m cdfs.confman > man/cdfs.conf.5

bench: deps venv
	$(PY) -m bench

clean:
	rm -rf $(VENV) .demo .pytest_cache .mypy_cache .ruff_cache
