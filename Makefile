# The two commands of the README. Everything they need is installed by scripts/setup.sh.
.PHONY: demo test setup lint bench

demo:
	scripts/setup.sh
	.venv/bin/sharpeyes demo

test:
	scripts/setup.sh --test
	.venv/bin/ruff check .
	.venv/bin/python -m pytest -q

lint:
	.venv/bin/ruff check .

bench:
	@for b in bench/*.py; do echo "== $$b"; .venv/bin/python $$b || exit 1; done
