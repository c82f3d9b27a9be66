"""tasks.py: the bench table's runs are runs of the results table, of the main recipe with its epochs
named, on the 70/30 split."""

import importlib.util
from pathlib import Path


def load_tasks():
    script = Path(__file__).resolve().parents[1] / "tasks.py"
    spec = importlib.util.spec_from_file_location("tasks", script)
    tasks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tasks)
    return tasks


def test_every_bench_run_is_a_results_run_of_the_main_recipe_with_its_epochs_named():
    tasks = load_tasks()
    runs = dict(tasks.RESULT_RUNS)
    assert len(tasks.BENCH_RUNS) == 3
    for run in tasks.BENCH_RUNS:
        args = runs[run]
        assert args[args.index("--recipe") + 1] == tasks.MAIN_RECIPE and "--epochs" in args and "--cv" not in args
