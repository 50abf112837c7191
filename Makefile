# The two commands of the README:
#   make smoke   set up, then run the whole workflow at the smoke tier (minutes on 2 cores)
#   make test    set up, then run the test suite
PYTHON ?= python3
CORES ?= 2
STAMP := .setup-stamp

.PHONY: setup smoke lite paper test bench

$(STAMP): pyproject.toml constraints.txt workflow/scripts/setup.sh
	PYTHON=$(PYTHON) bash workflow/scripts/setup.sh
	touch $(STAMP)

setup: $(STAMP)

smoke: $(STAMP)
	$(PYTHON) -m snakemake --cores $(CORES) --configfile config/smoke.yaml

lite: $(STAMP)
	$(PYTHON) -m snakemake --cores $(CORES) --configfile config/lite.yaml

paper: $(STAMP)
	$(PYTHON) -m snakemake --cores $(CORES)

test: $(STAMP)
	$(PYTHON) -m pytest -q -p no:cacheprovider --durations=15

bench: $(STAMP)
	$(PYTHON) benchmarks/bench_md.py
	$(PYTHON) benchmarks/bench_simulate.py
	$(PYTHON) benchmarks/bench_lrp.py
