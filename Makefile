# make demo   set up .venv, train + evaluate a small ResNet on real held-out digits (20 % noisy labels), write its report
# make test   set up .venv and run the test suite (all of it: what CI runs)
# make test-fast  tests/unit without the slow ones (no fresh processes, no deep graphs), about a minute
# make ref   install the reference libraries the tests compare with (torchvision, timm; make test does)
# make bench  set up .venv (and the reference libraries), run every benchmark in bench/, write bench/results/bench.{md,json}
# TF=cpu|gpu  which TensorFlow build (default: gpu where nvidia-smi exists, else cpu)
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TF ?= $(if $(shell command -v nvidia-smi 2>/dev/null),gpu,cpu)
REQS := $(if $(filter gpu,$(TF)),requirements-gpu.txt,requirements.txt)
STAMP := $(VENV)/.installed-$(TF)
DEMO_RUN := train_log/demo
DEMO_DATA := data/digits-demo
DEMO_TEST := data/digits-demo-test
DEMO_FLAGS := -d 18 --image-size 64 --batch 32
DEMO_EPOCHS := 10

.PHONY: venv ref demo test test-fast bench clean-demo

venv: $(STAMP)

PIP := $(PY) -m pip install --disable-pip-version-check -q --no-compile
# pip compiles each package's bytecode on one core (half of the install's time); compileall does
# the same on all of them. The files it cannot compile (a torch test of Python 3.12 syntax) pip
# skips too.
COMPILE := $(PY) -m compileall -q -j 0 $(VENV)/lib > /dev/null || true

# The pinned requirements, then the project itself (editable: the console commands and the
# package, with its dependencies already in place, built by the pinned setuptools).
$(STAMP): requirements.txt requirements-gpu.txt requirements-common.txt requirements-nodeps.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) -r $(REQS)
	$(PIP) --no-deps -r requirements-nodeps.txt
	$(PIP) --no-deps --no-build-isolation -e .
	$(COMPILE)
	@rm -f $(VENV)/.installed-*
	@touch $@

# Build the digits set, train, predict the test root, write its CodaLab submission and the curves,
# name the classes of two images, print the validation errors, and write the report page (its path
# ends the output).
demo: venv
	$(PY) utils/make_demo_data.py --set digits --root $(DEMO_DATA)
	$(PY) imagenet-resnet.py $(DEMO_FLAGS) --data $(DEMO_DATA) --epochs $(DEMO_EPOCHS) --lr-schedule cosine \
		--sample-loss --logdir $(DEMO_RUN)
	$(PY) imagenet-resnet.py $(DEMO_FLAGS) --data $(DEMO_TEST) --eval --load $(DEMO_RUN) \
		--predictions $(DEMO_RUN)/test-predictions.json
	$(PY) utils/json2sub.py --predictions $(DEMO_RUN)/test-predictions.json \
		--test-list $(DEMO_TEST)/meta/val.txt --out $(DEMO_RUN)/submission.txt --zip
	$(PY) utils/plot_log.py $(DEMO_RUN)
	$(PY) imagenet-resnet.py $(DEMO_FLAGS) --data $(DEMO_DATA) --load $(DEMO_RUN) --topk 3 \
		--predict $(DEMO_DATA)/val/val_0002.png $(DEMO_DATA)/val/val_0003.png
	$(PY) imagenet-resnet.py $(DEMO_FLAGS) --data $(DEMO_DATA) --eval --load $(DEMO_RUN) \
		--predictions $(DEMO_RUN)/val-predictions.json
	$(PY) utils/report.py --predictions $(DEMO_RUN)/val-predictions.json --labels $(DEMO_DATA)/meta/val.txt \
		--logdir $(DEMO_RUN) --out $(DEMO_RUN)/report.html

# The real torchvision and timm, for the tests that compare with them (installed once).
REF_STAMP := $(VENV)/.installed-ref
ref: $(REF_STAMP)
$(REF_STAMP): $(STAMP) requirements-ref.txt
	$(PIP) -r requirements-ref.txt
	$(COMPILE)
	@touch $@

# Three workers on two cores (pytest-xdist): the end-to-end tests wait on their processes (TensorFlow's
# import is one thread, a timeout is none); work stealing keeps a worker's queue from running on alone
# at the end.
test: venv $(REF_STAMP)
	$(PY) -m pytest -q -n 3 --dist worksteal --durations=25 tests

test-fast: venv $(REF_STAMP)
	$(PY) -m pytest -q -n 2 -m "not slow" tests/unit

bench: venv $(REF_STAMP)
	$(PY) bench/run_all.py

clean-demo:
	rm -rf $(DEMO_RUN) $(DEMO_DATA) $(DEMO_TEST) data/webvision-demo data/webvision-demo-test
