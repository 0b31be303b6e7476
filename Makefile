.PHONY: test bench lint

test:
	bash scripts/test

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

bench:
	.venv/bin/python benchmarks/parse_throughput.py
