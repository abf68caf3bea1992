# posekit: `make demo` and `make test` set everything up from nothing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
EXTRAS ?= yolo,serve,batch,dev
SHARED := ../shared/data
SAMPLES := samples

.PHONY: install demo test samples bench lint clean

install: $(STAMP)

# One resolver run for every extra: installing ultralytics later would upgrade numpy past
# mediapipe's pin and add a second OpenCV distribution.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q -e '.[$(EXTRAS)]'
	touch $(STAMP)

# Sample media: vtest.avi and messi5.jpg from ../shared/data/opencv-doc when present,
# otherwise from Debian's opencv-doc package (apt-get download, no install).
samples: $(SAMPLES)/vtest.avi $(SAMPLES)/messi5.jpg

$(SAMPLES)/vtest.avi $(SAMPLES)/messi5.jpg:
	mkdir -p $(SAMPLES)
	if [ -f $(SHARED)/opencv-doc/$(@F) ]; then cp $(SHARED)/opencv-doc/$(@F) $@; \
	else sh scripts/get_opencv_doc_sample.sh $(@F) $@; fi

demo: install samples
	$(BIN)/posekit info
	$(BIN)/posekit run $(SAMPLES)/vtest.avi --out runs/demo/vtest.mp4 --json runs/demo/vtest.jsonl --mot runs/demo/vtest.mot.txt
	$(BIN)/posekit run $(SAMPLES)/messi5.jpg --out runs/demo/messi5.jpg --json runs/demo/messi5.jsonl
	@echo "demo outputs in runs/demo/"

test: install
	sh scripts/install_chromium.sh
	sh scripts/install_blender.sh
	$(BIN)/python -m pytest -q

bench: install samples
	$(BIN)/python bench/bench_run.py

lint: install
	$(BIN)/ruff check posekit tests bench

clean:
	rm -rf $(VENV) runs *.egg-info
