# vlmdata: `make demo` installs everything and runs the embedded demo; `make test` runs the tests.
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
OUT ?= out

.PHONY: bench-gpu setup demo test test-fast lint pack interleaved pairs pdf_ocr rendered_text docmatix report train bench clean instructions import-messages import-alpaca import-llava import-sharegpt recaption ablate instruct

setup: $(VENV)/.installed

# torch and torchvision first, pinned to the builds this machine keeps on disk (a CUDA build: it
# runs on the CPU here and on the GPU where there is one), so nothing downloads several GB of
# another torch; torchvision is needed by open_clip (the `clip` extra: CLIP scores, the CLIP NSFW
# head). Elsewhere the same line installs them from PyPI.
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "torch==2.14.1" "torchvision==0.29.1"
	$(PY) -m pip install -q -e ".[dev,train,clip]"
	touch $@

demo: setup
	$(BIN)/vlmdata demo --out demo-out

test: setup
	$(BIN)/pytest -q

test-fast: setup
	$(BIN)/pytest -q -m "not slow"

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# one target per job: make pack CONFIG=configs/pack.yaml ARGS="input=... kind=pair"
pack: setup
	$(BIN)/vlmdata run pack --config $(or $(CONFIG),configs/pack.yaml) $(ARGS)

interleaved: setup
	$(BIN)/vlmdata run interleaved --config $(or $(CONFIG),configs/interleaved.yaml) $(ARGS)

docmatix: setup
	$(BIN)/vlmdata run docmatix --config $(or $(CONFIG),configs/docmatix.yaml) $(ARGS)

pairs: setup
	$(BIN)/vlmdata run pairs --config $(or $(CONFIG),configs/pairs.yaml) $(ARGS)

# synthetic captions: the demo's pairs against a scripted local VLM server, or a real one with
# make recaption ENDPOINT=http://HOST:8000/v1 ARGS="recaption.llm.model=..."
recaption: setup
	$(if $(ENDPOINT),$(BIN)/vlmdata run pairs --config configs/recaption.yaml recaption.llm.endpoint_url=$(ENDPOINT) $(ARGS),$(PY) -m tests.recaption_demo $(ARGS))

pdf_ocr: setup
	$(BIN)/vlmdata run pdf_ocr --config $(or $(CONFIG),configs/pdf_ocr.yaml) $(ARGS)

rendered_text: setup
	$(BIN)/vlmdata run rendered_text --config $(or $(CONFIG),configs/rendered_text.yaml) $(ARGS)

# the auditor's report of a run: make report RUN=out/<dataset>  (writes RUN/report.html and report.json)
report: setup
	$(BIN)/vlmdata report $(or $(RUN),$(error give RUN=OUT/<dataset>))

# instruction and conversation data -> qa shards: make import-llava INPUT=path/llava.json ARGS="..."
# (INPUT defaults to the demo files of each layout, written by synth.demo.instructions)
INSTRUCTIONS := demo-out/instructions
$(INSTRUCTIONS)/llava.json: setup
	$(PY) -m synth.demo.instructions $(INSTRUCTIONS)
import-messages: $(INSTRUCTIONS)/llava.json
	$(BIN)/vlmdata import messages $(or $(INPUT),$(INSTRUCTIONS)/messages.parquet) --config configs/conversations.yaml $(ARGS)
import-alpaca: $(INSTRUCTIONS)/llava.json
	$(BIN)/vlmdata import alpaca $(or $(INPUT),$(INSTRUCTIONS)/alpaca.jsonl) --config configs/conversations.yaml $(ARGS)
import-llava: $(INSTRUCTIONS)/llava.json
	$(BIN)/vlmdata import llava $(or $(INPUT),$(INSTRUCTIONS)/llava.json) --config configs/conversations.yaml $(or $(ARGS),governance.decontamination.pairs=[$(INSTRUCTIONS)/eval_pairs.jsonl])
import-sharegpt: $(INSTRUCTIONS)/llava.json
	$(BIN)/vlmdata import sharegpt $(or $(INPUT),$(INSTRUCTIONS)/sharegpt.jsonl) --config configs/conversations.yaml $(ARGS)
instructions: import-messages import-alpaca import-llava import-sharegpt

# The Cauldron from its sources: demo files of every source, then the job (configs/instruct.yaml)
instruct: setup
	$(PY) -m synth.demo.instruct_sources demo-out/instruct-sources
	$(BIN)/vlmdata run instruct --config configs/instruct.yaml $(ARGS)

# the shipped ablation: with vs without OCR data on the reading task, the colour task as control,
# 3 seeds, on the CPU (about 10 minutes on 2 cores); results in demo-out/ablation/result/
ablate: setup
	$(PY) -m pipelines.ablation_data demo-out/ablation
	$(BIN)/vlmdata ablate --config $(or $(CONFIG),configs/ablate.yaml) $(ARGS)

# train on shard datasets: make train CONFIG=configs/train.yaml ARGS="steps=200"
train: setup
	$(BIN)/vlmdata train --config $(or $(CONFIG),configs/train.yaml) $(ARGS)

# side-by-side benchmarks on this machine's CPUs; bench_fetch and bench_dedup create the peers'
# own virtual environments (img2dataset, imagededup) on first use
bench: setup
	$(PY) benchmarks/bench_shards.py
	$(PY) benchmarks/bench_extraction.py
	$(PY) benchmarks/bench_fetch.py
	$(PY) benchmarks/bench_dedup.py
	$(PY) benchmarks/bench_pdf.py
	$(PY) benchmarks/bench_pdf_quality.py
	$(PY) benchmarks/bench_ocr_engines.py
	$(PY) benchmarks/bench_qa_grounding.py
	$(PY) benchmarks/bench_llm_client.py
	$(PY) benchmarks/bench_recaption_client.py

# on a GPU machine (torch + transformers only): LLM generation and training throughput
bench-gpu:
	python3 benchmarks/bench_docmatix.py
	python3 benchmarks/bench_train.py
	python3 benchmarks/bench_recaption_gpu.py

clean:
	rm -rf demo-out out .pytest_cache
