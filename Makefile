# Thin aliases; tasks.py does the work and needs only Python. DATA=/path/to/CK+48 picks the dataset.
.PHONY: main test setup bench pi-check reproduce
main:
	python3 tasks.py main
test:
	python3 tasks.py test
setup:
	python3 tasks.py setup
bench:
	python3 tasks.py bench
pi-check:
	python3 tasks.py pi-check
reproduce:
	python3 tasks.py reproduce
