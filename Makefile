# The two commands a newcomer needs:  make demo  and  make test.
# Both create .venv on first use (torch 2.13.0 CPU first, so nothing pulls a CUDA build).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORTRAITS ?= ../shared/corpora/portraits
DEMO   := demo-output
DEMO_KIMG ?= 30

.PHONY: demo test setup bench clean

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

## make demo: corpus from a folder of portraits -> short DCGAN training -> new portraits -> one enlarged and signed
demo: setup
	$(BIN)/belamy corpus build $(PORTRAITS) --out $(DEMO)/corpus --size 64
	$(BIN)/belamy train $(DEMO)/corpus --out $(DEMO)/run --res 64 --kimg $(DEMO_KIMG) --tick-kimg 2 --snapshot-ticks 2 \
		$$(test -d $(DEMO)/run/checkpoints && echo --resume)
	$(BIN)/belamy generate $(DEMO)/run --n 16 --seed 1 --grid --out $(DEMO)/portraits
	$(BIN)/belamy upscale $(DEMO)/portraits/seed-000001.png --scale 8 --method lanczos --out $(DEMO)/portrait-512.png
	$(BIN)/belamy sign $(DEMO)/portrait-512.png --out $(DEMO)/signed-portrait.png
	@echo
	@echo "Results in $(DEMO)/:"
	@echo "  corpus contact sheet  $(DEMO)/corpus/contact_sheet.png"
	@echo "  training samples      $(DEMO)/run/samples/"
	@echo "  new portraits         $(DEMO)/portraits/ (grid.png shows all 16)"
	@echo "  signed portrait       $(DEMO)/signed-portrait.png (512², enlarged so the signature reads)"

## make test: the whole test suite
test: setup
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python bench/bench_dcgan.py

clean:
	rm -rf $(DEMO) .pytest_cache
