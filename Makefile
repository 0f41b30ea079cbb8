# Shortcuts for tasks.py, which needs nothing but Python 3.11+ (make is optional).
PYTHON ?= $(shell command -v python3.11 || command -v python3)

.PHONY: install run test check bench clean

install:
	$(PYTHON) tasks.py install
run:
	$(PYTHON) tasks.py run
test:
	$(PYTHON) tasks.py test
check:
	$(PYTHON) tasks.py check
bench:
	$(PYTHON) tasks.py bench
clean:
	rm -rf .venv .mypy_cache .ruff_cache .pytest_cache
