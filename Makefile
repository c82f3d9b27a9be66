# Thin aliases; tasks.py does the work and needs only Python. DATA=/path/to/CK+48 picks the dataset.
.PHONY: main test setup reproduce
main:
	python3 tasks.py main
test:
	python3 tasks.py test
setup:
	python3 tasks.py setup
reproduce:
	python3 tasks.py reproduce
