# The two commands a newcomer needs:
#   make run    create the environment if missing, install, serve the app at http://127.0.0.1:7860
#   make test   same environment, run the test suite (what CI runs)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-fast install clean-env

$(STAMP): pyproject.toml tools/install_llama_cpp.py
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@# llama.cpp first, built for this CPU's instruction-set level (never native, never AMX), cached per flags: see
	@# README, CPU portability
	$(BIN)/python tools/install_llama_cpp.py
	@echo "Installing SupportLens and its models"
	$(BIN)/python -m pip install -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/python -m supportlens prepare
	$(BIN)/python app.py $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not real_model" $(PYTEST_ARGS)

clean-env:
	rm -rf $(VENV)
