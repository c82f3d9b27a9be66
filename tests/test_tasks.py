"""tasks.py: the bench table's runs are runs of the results table, of the main recipe with its epochs
named, on the 70/30 split; `tasks.py wild` passes only options that fer-edge has."""

from conftest import load_script


def load_tasks():
    return load_script("tasks.py")


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
    assert checked == 15  # eight trainings, seven exports
    sixth = [c for c in calls if "runs/wild-w0.5-from-default-n0.05-s8000" in c]
    assert [c[1] for c in sixth] == ["train", "export"]
    assert "--pretrain-noise" in sixth[0] and "--jitter-noise" not in sixth[0]
    assert sixth[0][sixth[0].index("--stills-per-epoch") + 1] == "8000" and "--mirror-odd-frames" in sixth[1]
    # the shipped model: stage 1 on the votes from the sixth bundle, stage 2 with the folder label over expressions
    shipped = [c for c in calls if "runs/wild-w0.5-ferplus-fw0.5x" in c]
    assert [c[1] for c in shipped] == ["train", "export"] and "--mirror-odd-frames" in shipped[1]

    def value(call, option):
        return call[call.index(option) + 1]

    assert value(shipped[0], "--pretrain-from") == value(sixth[1], "--out")
    assert value(shipped[0], "--stills-labels") == "ferplus" and value(shipped[0], "--folder-blend") == "expressions"
    assert value(shipped[0], "--folder-weight") == "0.5" and value(shipped[0], "--pretrain-epochs") == "15"
    first = [c for c in calls if "runs/wild-w0.5-ferplus" in c and c[1] == "train"][0]  # trains the shared stage 1
    assert value(first, "--encoder") == value(shipped[0], "--encoder") and "--folder-weight" not in first
