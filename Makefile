# The two commands a newcomer needs:  make demo  and  make test.
# Both create .venv on first use (torch 2.13.0 CPU first, so nothing pulls a CUDA build).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORTRAITS ?= ../shared/corpora/portraits
DEMO   := demo-output
DEMO_MINUTES ?= 6
# The browser tests (tests/browser) drive this Chromium through Playwright.
export BELAMY_CHROMIUM ?= /usr/bin/chromium

.PHONY: demo test setup chromium bench clean

$(BIN)/belamy: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "torch==2.13.0"
	$(BIN)/pip install --quiet -e ".[test]"
	# spandrel (third-party SR weights) declares torchvision, which has no CPU build and would pull a
	# CUDA torch: install it without its dependencies; belamy stands in for the torchvision names it imports.
	$(BIN)/pip install --quiet --no-deps "spandrel>=0.4" "einops>=0.7"
	touch $(BIN)/belamy

setup: $(BIN)/belamy

## make demo: corpus from a folder of portraits -> a few minutes of training with the preset for this machine
##            -> new portraits -> one enlarged by belamy's painting-SR network and signed
demo: setup
	$(BIN)/belamy corpus build $(PORTRAITS) --out $(DEMO)/corpus --size 64
	$(BIN)/belamy train $(DEMO)/corpus --out $(DEMO)/run --preset auto --res 64 --minutes $(DEMO_MINUTES) \
		--tick-kimg 2 --snapshot-ticks 2 $$(test -d $(DEMO)/run/checkpoints && echo --resume)
	$(BIN)/belamy generate $(DEMO)/run --n 16 --seed 1 --grid --out $(DEMO)/candidates/portraits
	$(BIN)/belamy upscale $(DEMO)/candidates/portraits/seed-000001.png --scale 8 --method painting --out $(DEMO)/portrait-512.png
	$(BIN)/belamy sign $(DEMO)/portrait-512.png --out $(DEMO)/signed-portrait.png
	@echo
	@echo "Results in $(DEMO)/:"
	@echo "  corpus contact sheet  $(DEMO)/corpus/contact_sheet.png"
	@echo "  training samples      $(DEMO)/run/samples/"
	@echo "  loss curves           $(DEMO)/run/curves.png"
	@echo "  new portraits         $(DEMO)/candidates/portraits/ (grid.png shows all 16)"
	@echo "  signed portrait       $(DEMO)/signed-portrait.png (512²: ×4 by belamy's painting-SR network, then ×2 Lanczos)"
	@echo
	@echo "Look at the run and curate the new portraits in the studio:"
	@echo "  $(BIN)/belamy studio --root $(DEMO)    # then open http://127.0.0.1:8700"

## make test: the whole test suite (the browser tests need Chromium: see the chromium target)
test: chromium setup
	$(BIN)/python -m pytest -q

# As root (CI, a container), install Debian's chromium as .ci/run does; otherwise say what to install and stop.
chromium:
	@if [ ! -x "$(BELAMY_CHROMIUM)" ] && [ "$(BELAMY_CHROMIUM)" = /usr/bin/chromium ] && [ "$$(id -u)" = 0 ] \
	    && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing Debian's chromium for the browser tests: apt-get install -y chromium"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null || exit 1; \
	fi
	@if [ ! -x "$(BELAMY_CHROMIUM)" ]; then \
	  echo "make test needs Chromium at $(BELAMY_CHROMIUM) for the browser tests (tests/browser)." >&2; \
	  echo "Install it, then run make test again:" >&2; \
	  echo "  Debian or Ubuntu:  sudo apt-get update && sudo apt-get install -y chromium" >&2; \
	  echo "  elsewhere:         make test BELAMY_CHROMIUM=/path/to/chromium" >&2; \
	  exit 1; \
	fi
