# The two commands of the README. Everything they need is installed by scripts/setup.sh.
.PHONY: demo test setup lint bench constraints

demo:
	scripts/setup.sh
	.venv/bin/sharpeyes demo

test:
	scripts/setup.sh --test
	.venv/bin/ruff check .
	.venv/bin/python -m pytest -q -n 2 --no-loadscope-reorder --durations=25

lint:
	.venv/bin/ruff check .

bench:
	@for b in bench/*.py; do echo "== $$b"; .venv/bin/python $$b || exit 1; done

# After upgrading a package in .venv on purpose and passing `make test`: record the new tested set.
constraints:
	{ sed -n '/^#/p' constraints.txt; .venv/bin/pip freeze --all --exclude-editable \
	  | grep -vE '^(sharpeyes|setuptools|wheel)=='; } > constraints.txt.new && mv constraints.txt.new constraints.txt
