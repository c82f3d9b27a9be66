"""tasks.py: the bench table's runs are runs of the results table, of the main recipe with its epochs
named, on the 70/30 split; `tasks.py wild` passes only options that fer-edge has."""

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


def test_every_command_of_tasks_wild_uses_only_options_that_its_fer_edge_command_has(monkeypatch):
    import typer

    from fer_edge.cli import app

    tasks = load_tasks()
    calls = []
    monkeypatch.setattr(tasks, "setup", lambda: None)
    monkeypatch.setattr(tasks, "run", lambda *command: calls.append(command))
    tasks.wild()
    commands = typer.main.get_command(app).commands
    checked = 0
    for call in calls:
        if not call[0].endswith("fer-edge"):
            continue
        known = {opt for param in commands[call[1]].params for opt in param.opts + param.secondary_opts}
        assert {a for a in call[2:] if a.startswith("--")} <= known, call
        checked += 1
    assert checked == 12  # six trainings, six exports
    shipped = [c for c in calls if "runs/wild-w0.5-from-default-n0.05-s8000" in c]
    assert [c[1] for c in shipped] == ["train", "export"]
    assert "--pretrain-noise" in shipped[0] and "--jitter-noise" not in shipped[0]
    assert shipped[0][shipped[0].index("--stills-per-epoch") + 1] == "8000" and "--mirror-odd-frames" in shipped[1]
