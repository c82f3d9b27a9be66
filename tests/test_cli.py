"""Bad input gets one line, the right exit code and no traceback; --help shows what the code says."""

import re

import pytest
import typer.main
from typer.testing import CliRunner

from fer_edge.cli import app

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def one_error_line(result) -> str:
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: ")
    return lines[0]


def test_help_lists_the_commands():
    result = invoke("--help")
    assert result.exit_code == 0
    assert "train" in result.output and "data" in result.output
    train_help = invoke("train", "--help").output
    for option in ("--data", "--out", "--recipe", "--epochs", "--width", "--classes", "--cv", "--seed"):
        assert option in train_help


def every_command(group, path: tuple[str, ...] = ()):
    for name, command in group.commands.items():
        if hasattr(command, "commands"):  # a group, such as `data`
            yield from every_command(command, (*path, name))
        else:
            yield (*path, name), command


def test_every_help_text_is_shown_as_written():
    """The help is rendered as markdown: text such as `<emotion>/` would vanish as an HTML tag unless quoted."""

    def flat(text: str) -> str:
        return re.sub(r"\s+", " ", re.sub(r"[│╭╮╰╯─]", " ", text.replace("`", ""))).strip()

    commands = list(every_command(typer.main.get_command(app)))
    assert len(commands) >= 9
    for path, command in commands:
        shown = flat(runner.invoke(app, [*path, "--help"], env={"COLUMNS": "2000"}).output)
        for text in [command.help or ""] + [getattr(p, "help", None) or "" for p in command.params]:
            assert flat(text) in shown, (path, text)
        narrow = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "80"}).output
        cut = [line for line in narrow.splitlines() if re.search(r"…\s*│$", line)]  # a word too long for the column
        assert not cut, (path, cut)


@pytest.mark.parametrize("cv, name", [(0, "edge-w0.5"), (3, "edge-w0.5-cv3")])
def test_without_out_the_run_folder_is_named_after_recipe_width_and_folds(tmp_path, monkeypatch, cv, name):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / name).mkdir(parents=True)  # an existing folder: the error names the default path
    result = invoke("train", "--data", tmp_path / "nope", "--recipe", "edge", "--width", "0.5", "--cv", cv)
    assert result.exit_code != 0
    assert f"runs/{name}" in one_error_line(result)


def test_missing_dataset_is_one_line_exit_1(tmp_path):
    result = invoke("train", "--data", tmp_path / "nope", "--out", tmp_path / "run")
    assert result.exit_code == 1
    assert "Cohn-Kanade" in one_error_line(result)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--epochs", "0"], "epochs 0 must be at least 1"),
        (["--width", "0"], "--width must be in (0, 4]"),
        (["--batch-size", "-1"], "batch_size -1 must be at least 1"),
        (["--cv", "1"], "--cv must be 0"),
        (["--classes", "happy,happy"], "more than once"),
        (["--early-stopping", "5"], "needs --val-fraction"),
        (["--mirror-odd-frames"], "mirror_odd_frames needs augment"),  # the seed recipe does not augment
    ],
)
def test_nonsense_numbers_are_usage_errors(synthetic_ck48, tmp_path, args, fragment):
    result = invoke("train", "--data", synthetic_ck48, "--out", tmp_path / "run", *args)
    assert result.exit_code == 2, result.output
    assert fragment in one_error_line(result)


def test_existing_output_is_refused_without_force(synthetic_ck48, tmp_path):
    (tmp_path / "run").mkdir()
    result = invoke("train", "--data", synthetic_ck48, "--out", tmp_path / "run")
    assert result.exit_code == 2 and "--force" in one_error_line(result)


def test_unknown_class_and_bad_file_are_named(synthetic_ck48, tmp_path):
    result = invoke("train", "--data", synthetic_ck48, "--classes", "happy,joy", "--out", tmp_path / "r")
    assert result.exit_code == 1 and "'joy'" in one_error_line(result)
    (synthetic_ck48 / "happy" / "S101_001_00000002.png").write_bytes(b"")
    result = invoke("data", "stats", "--data", synthetic_ck48, "--out", tmp_path / "grid.png")
    assert result.exit_code == 1 and "S101_001_00000002.png is empty" in one_error_line(result)


def test_data_stats_prints_counts_and_writes_a_grid(synthetic_ck48, tmp_path):
    import cv2

    result = invoke("data", "stats", "--data", synthetic_ck48, "--out", tmp_path / "grid.png")
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line.split()[1:] for line in result.output.splitlines()[1:-1]}
    assert rows["total"] == ["30", "120", "6"] and rows["fear"] == ["6", "24", "6"]
    grid = cv2.imread(str(tmp_path / "grid.png"))
    assert grid is not None and grid.shape[0] > 300 and grid.shape[1] > 600


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["bench", "BUNDLE", "--runs", "0"], "--runs must be at least 1"),
        (["bench", "BUNDLE", "--threads", "0"], "--threads takes a comma list"),
        (["bench", "BUNDLE", "--threads", "one"], "--threads takes a comma list of integers"),
        (["run", "--source", "SOURCE", "--threads", "0"], "--threads must be at least 1"),
        (["run", "--source", "SOURCE", "--max-gap", "0"], "--max-gap above 0"),
        (["run", "--source", "SOURCE", "--tflite-backend", "tflite"], "--tflite-backend takes"),
        (["run", "--source", "SOURCE", "--lift", "-0.6"], "--lift must be in (-0.5, 0.5), got -0.6"),
        (["run", "--bundle", "missing-bundle", "--source", "SOURCE"], "missing-bundle does not exist"),
    ],
)
def test_nonsense_numbers_and_names_are_usage_errors(tmp_path, args, fragment):
    from fer_edge.default_model import DEFAULT_BUNDLE

    args = [str(DEFAULT_BUNDLE) if a == "BUNDLE" else str(tmp_path) if a == "SOURCE" else a for a in args]
    result = invoke(*args, *(["--out", tmp_path / "report"] if args[0] == "bench" else []))
    assert result.exit_code == 2
    assert fragment in one_error_line(result)


def test_picamera_without_picamera2_says_how_to_install_it(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_picamera2(name, *args, **kwargs):
        if name == "picamera2":
            raise ImportError("No module named 'picamera2'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_picamera2)
    result = invoke("run", "--source", "picamera")
    assert result.exit_code == 1
    line = one_error_line(result)
    assert "python3-picamera2" in line and "--system-site-packages" in line


def command(name: str):
    import typer.main

    return typer.main.get_command(app).commands[name]


def option_names(cli_command) -> set[str]:
    return {param.name for param in cli_command.params}


def test_run_and_serve_take_every_runtime_option_from_one_definition():
    import dataclasses

    from fer_edge.cli.options import CROP, OPTIONS, RUNTIME
    from fer_edge.run import RunConfig

    run, serve, evaluate = command("run"), command("serve"), command("eval")
    assert set(RUNTIME) <= option_names(run) and set(RUNTIME) <= option_names(serve)
    assert {"format", "precision", "streaming", "threads", *CROP} <= option_names(evaluate)
    defaults = {f.name: f.default for f in dataclasses.fields(RunConfig) if f.name in OPTIONS and f.name != "source"}
    assert defaults == {name: OPTIONS[name][1] for name in defaults}, "CLI defaults follow RunConfig"
    for name in RUNTIME:  # the same option, declared once: same flags, help and default in both commands
        in_run = next(p for p in run.params if p.name == name)
        in_serve = next(p for p in serve.params if p.name == name)
        assert (in_run.opts, in_run.secondary_opts, in_run.help, in_run.default) == (
            in_serve.opts,
            in_serve.secondary_opts,
            in_serve.help,
            in_serve.default,
        )


@pytest.mark.parametrize("name", ["run", "serve", "watch", "eval", "bench", "train", "export"])
def test_help_fits_100_columns_without_cut_option_names(name, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    result = runner.invoke(app, [name, "--help"], terminal_width=100)
    assert result.exit_code == 0
    assert max(len(line) for line in result.output.splitlines()) <= 100
    for param in command(name).params:
        for flag in param.opts + param.secondary_opts:
            if flag.startswith("--"):
                assert flag in result.output, f"{flag} is cut or missing in {name} --help"


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["train"], "pass --data PATH"),
        (["eval"], "pass --data PATH"),
        (["data", "stats"], "pass --data PATH"),
    ],
)
def test_commands_that_need_data_say_what_to_pass(args, fragment, monkeypatch):
    monkeypatch.delenv("FER_EDGE_DATA", raising=False)
    result = invoke(*args)
    assert result.exit_code == 2 and fragment in one_error_line(result)


def test_data_can_come_from_the_environment(synthetic_ck48, tmp_path, monkeypatch):
    monkeypatch.setenv("FER_EDGE_DATA", str(synthetic_ck48))
    result = invoke("data", "stats", "--out", tmp_path / "grid.png")
    assert result.exit_code == 0, result.output


def test_the_shipped_model_is_called_default(tmp_path):
    from fer_edge.default_model import DEFAULT_BUNDLE, resolve_bundle

    assert resolve_bundle("default") == resolve_bundle(None) == DEFAULT_BUNDLE
    result = invoke("run", "--model", "default", "--source", tmp_path / "nope.mp4")
    assert "nope.mp4 does not exist" in one_error_line(result)  # the model loaded; the source is what is missing


def test_opencv_and_ffmpeg_stay_quiet_on_a_corrupt_video_and_a_missing_camera(tmp_path):
    import subprocess
    import sys

    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)
    for source in (str(broken), "7"):
        done = subprocess.run(
            [sys.executable, "-c", "from fer_edge.cli import main; main()", "run", "--source", source],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode != 0
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr


def test_tensorflow_start_up_lines_stay_quiet_in_train_and_export():
    pytest.importorskip("tensorflow", reason="the train extra (TensorFlow) is not installed")
    import subprocess
    import sys

    # what train and export do first; then TensorFlow is imported already, and its oneDNN and absl lines were not shown
    script = "from fer_edge.cli.app import require_tensorflow; require_tensorflow('train'); import tensorflow; print(1)"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout == "1\n" and done.stderr == "", done.stderr
    import logging

    import tensorflow as tf

    from fer_edge import quiet

    level = tf.get_logger().level
    try:
        quiet.import_tensorflow()
        assert tf.get_logger().level == logging.ERROR  # no "triggered tf.function retracing" warnings
    finally:
        tf.get_logger().setLevel(level)


def test_train_takes_the_shipped_model_by_name_as_teacher_and_stage_1_start(synthetic_ck48, tmp_path, monkeypatch):
    import fer_edge.train.config
    from fer_edge.default_model import DEFAULT_BUNDLE
    from fer_edge.errors import UsageError

    seen = []

    def capture(config):
        seen.append(config)
        raise UsageError("stop here")

    monkeypatch.setattr(fer_edge.train.config, "check_train_inputs", capture)
    result = invoke(
        "train", "--data", synthetic_ck48, "--recipe", "wild", "--teacher", "default", "--pretrain-from", "default"
    )
    assert result.exit_code == 2 and "stop here" in result.output
    assert seen[0].teacher == seen[0].pretrain_from == str(DEFAULT_BUNDLE)
