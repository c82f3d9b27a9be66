#!/usr/bin/env python3
"""The few commands a person types; needs only Python 3.10+ (standard library) to start.

    python3 tasks.py main       the whole pipeline in minutes: set up .venv, show the data, train a small model
                                briefly, export int8 TFLite/ONNX with its parity table, run it on a video of held-out
                                faces (overlay video + JSON lines), benchmark it
    python3 tasks.py full       the full reproduction of the main recipe: edge at full width, 200 epochs
    python3 tasks.py test       set up .venv, lint, run the test suite
    python3 tasks.py bench      train (if missing), export and benchmark widths 1, 0.5, 0.25: the bench table of
                                docs/guide.md (Benchmarks)
    python3 tasks.py pi-check   run the runtime on emulated arm64 (Cortex-A72) with tflite-runtime and ai-edge-litert
                                (QEMU=/path/to/qemu-aarch64 picks the emulator; run as root so that a Cortex-A72
                                /proc/cpuinfo can be bound in where qemu shows the host's, as 7.2 does)
    python3 tasks.py reproduce  every training run behind the results table of docs/guide.md (Results)
    python3 tasks.py wild       the shipped default's runs: the wild recipe at width 0.5 on CK+48 and FER2013, then
                                its stage-1 cycles, each with a stage 2 and an int8 export, then the comparison table
                                (FER= names the fer package's emotion_model_quantized.tflite to add its row)

How long each takes: docs/results.md (How long the commands take). How they came to be: docs/lab/commands.md.

DATA=/path/to/CK+48 picks the dataset (default ../shared/data/CK+48), STILLS=/path/to/FER2013 the still images
(default ../shared/data/FER2013).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
DATA = os.environ.get("DATA", str(ROOT / ".." / "shared" / "data" / "CK+48"))
STILLS = os.environ.get("STILLS", str(ROOT / ".." / "shared" / "data" / "FER2013"))
STAMP = VENV / ".fer-edge-installed"

# Chosen by CV inside the seed split's training data (benchmarks/recipe_ablation.py), never by the held-out split.
MAIN_RECIPE = "edge"
# `main` shows the pipeline, not the best model: the main recipe at a quarter width for a few minutes of training.
QUICK = ["--recipe", MAIN_RECIPE, "--width", "0.25", "--epochs", "40"]

# The runs of the bench table in docs/guide.md (trained with their RESULT_RUNS arguments), all with the main
# recipe as it was before it took auxiliary classes, on the seed 70/30 split.
BENCH_RUNS = ("runs/edge200-w1", "runs/edge200-w0.5", "runs/edge200-w0.25")

# Each run of the training results table in docs/guide.md: (run folder, arguments). `edge` runs made before the
# recipe took auxiliary classes name that (--auxiliary-classes none), so that they are reproduced as they were.
NO_AUX = ["--auxiliary-classes", "none"]
RESULT_RUNS = [
    ("runs/seed-w1", ["--recipe", "seed", "--width", "1"]),
    ("runs/edge-w1", ["--recipe", "edge", "--epochs", "100", "--width", "1", *NO_AUX]),
    ("runs/seed-w0.5", ["--recipe", "seed", "--width", "0.5"]),
    ("runs/edge-w0.5", ["--recipe", "edge", "--epochs", "100", "--width", "0.5", *NO_AUX]),
    ("runs/seed-w0.25", ["--recipe", "seed", "--width", "0.25"]),
    ("runs/edge-w0.25", ["--recipe", "edge", "--epochs", "100", "--width", "0.25", *NO_AUX]),
    ("runs/seed-w0.25-cv5", ["--recipe", "seed", "--width", "0.25", "--cv", "5"]),
    ("runs/edge-w0.25-cv5", ["--recipe", "edge", "--epochs", "100", "--width", "0.25", "--cv", "5", *NO_AUX]),
    ("runs/edge200-w1", ["--recipe", "edge", "--epochs", "200", "--width", "1", *NO_AUX]),
    ("runs/edge200-w0.5", ["--recipe", "edge", "--epochs", "200", "--width", "0.5", *NO_AUX]),
    ("runs/edge200-w0.25", ["--recipe", "edge", "--epochs", "200", "--width", "0.25", *NO_AUX]),
    ("runs/edge200-w0.25-cv5", ["--recipe", "edge", "--epochs", "200", "--width", "0.25", "--cv", "5", *NO_AUX]),
    ("runs/edge200aux-w0.5", ["--recipe", "edge", "--epochs", "200", "--width", "0.5"]),
    ("runs/edge200aux-w1", ["--recipe", "edge", "--epochs", "200", "--width", "1"]),
]


def run(*command: str) -> None:
    print("+", " ".join(command), flush=True)
    subprocess.run(command, cwd=ROOT, check=True)


def setup() -> None:
    """Create .venv and install fer-edge with its train, dev and mqtt extras (skipped when pyproject is unchanged)."""
    if sys.version_info < (3, 10):  # noqa: UP036 - tasks.py is what a user with an old Python runs first
        sys.exit(f"fer-edge needs Python 3.10 or newer; this is {sys.version.split()[0]}")
    if not (BIN / "python").exists():
        print(f"creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    signature = (ROOT / "pyproject.toml").read_text()
    if STAMP.exists() and STAMP.read_text() == signature:
        return
    run(str(BIN / "python"), "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    run(str(BIN / "python"), "-m", "pip", "install", "--quiet", "-e", ".[train,dev,mqtt]")
    STAMP.write_text(signature)


def fer_edge(*args: str) -> None:
    run(str(BIN / "fer-edge"), *args)


def main() -> None:
    """The pipeline end to end on CK+48 with a briefly trained small model; every output is listed at the end."""
    started = time.monotonic()
    setup()
    run_dir, bundle, reports = "runs/quick-w0.25", "bundles/quick-w0.25", "reports/quick"
    fer_edge("data", "stats", "--data", DATA, "--out", f"{reports}/data_stats.png")
    fer_edge("train", "--data", DATA, *QUICK, "--out", run_dir, "--force")
    fer_edge("export", run_dir, "--int8", "--data", DATA, "--out", bundle, "--force")
    clip = f"{reports}/heldout_clip.avi"
    fer_edge("data", "clip", bundle, "--data", DATA, "--out", clip, "--force")
    fer_edge(
        "run",
        "--bundle",
        bundle,
        "--source",
        clip,
        "--jsonl",
        f"{reports}/predictions.jsonl",
        "--out",
        f"{reports}/overlay.mp4",
        "--force",
    )
    fer_edge("bench", bundle, "--data", DATA, "--runs", "50", "--out", f"{reports}/bench", "--force")
    minutes = (time.monotonic() - started) / 60
    print(
        f"\ndone in {minutes:.1f} min. Outputs:\n"
        f"  {reports}/data_stats.png          sample sequences of every class\n"
        f"  {run_dir}/                    the trained run: curves, confusion matrix, samples, metrics.json\n"
        f"  {bundle}/                 int8 and float TFLite/ONNX models, manifest.json with the parity checks\n"
        f"  {reports}/overlay.mp4             the held-out clip with boxes, labels and probability bars\n"
        f"  {reports}/predictions.jsonl       one JSON line per prediction\n"
        f"  {reports}/bench/                  bench.md, bench.json, latency_vs_accuracy.png\n"
        "This model trained for minutes; the shipped one (fer_edge/models/default) is what `fer-edge run` uses.",
        flush=True,
    )


def full() -> None:
    setup()
    fer_edge("data", "stats", "--data", DATA, "--out", "reports/data_stats.png")
    fer_edge("train", "--data", DATA, "--recipe", MAIN_RECIPE, "--out", f"runs/main-{MAIN_RECIPE}-w1", "--force")
    fer_edge(
        "export",
        f"runs/main-{MAIN_RECIPE}-w1",
        "--int8",
        "--data",
        DATA,
        "--out",
        f"bundles/main-{MAIN_RECIPE}-w1",
        "--force",
    )
    fer_edge("bench", f"bundles/main-{MAIN_RECIPE}-w1", "--data", DATA, "--out", "reports/bench-main", "--force")


def bench() -> None:
    setup()
    bundles = []
    for run_dir in BENCH_RUNS:
        bundle = f"bundles/{Path(run_dir).name}"
        if not (ROOT / run_dir / "model.keras").exists():
            fer_edge("train", "--data", DATA, "--out", run_dir, "--force", *dict(RESULT_RUNS)[run_dir])
        fer_edge("export", run_dir, "--int8", "--data", DATA, "--out", bundle, "--force")
        bundles.append(bundle)
    fer_edge("bench", *bundles, "--data", DATA, "--threads", "1,2", "--out", "reports/bench", "--force")


def pi_check() -> None:
    """Optional (needs qemu-user-static, Debian's arm64 packages and PyPI's aarch64 wheels; several minutes)."""
    setup()
    failed = False
    for runtime in ("tflite-runtime", "ai-edge-litert"):
        out = f"reports/pi_check-{runtime}.json"
        command = [str(BIN / "python"), "benchmarks/pi_check.py", "--runtime", runtime, "--out", out]
        command += ["--qemu", os.environ.get("QEMU", "qemu-aarch64-static")]
        done = subprocess.run(command, cwd=ROOT)
        failed |= done.returncode != 0
    if failed:
        sys.exit(1)


def test() -> None:
    setup()
    run(str(BIN / "ruff"), "check", ".")
    run(str(BIN / "python"), "-m", "pytest", "-q")


def wild() -> None:
    """The shipped default's runs (docs/wild.md, docs/lab/ferplus.md): the recipe, five more stage-1 cycles on
    FER2013's labels, one on the FER+ votes, int8, the table."""
    setup()
    # each earlier default is remade on the way (their history: docs/lab/default-models.md); first the recipe alone
    previous, first_stage = "runs/wild-w0.5-e50d0.5", "runs/stills-w0.5-e50-d0.5"
    recipe = ["--recipe", "wild", "--width", "0.5", "--data", DATA, "--stills", STILLS]
    fer_edge("train", *recipe, "--out", previous, "--force")
    fer_edge("export", previous, "--int8", "--data", DATA, "--out", "bundles/wild-w0.5-e50d0.5", "--force")
    # second: stage 1 continued for 30 epochs at a quarter of the pool dropouts, stage 2
    second_run, second = "runs/wild-w0.5-then30", "bundles/wild-w0.5-then30"
    cycle = ["--pretrain-epochs", "30", "--pretrain-dropout", "0.25", "--pretrain-lr", "1e-3"]  # each later cycle
    second_cycle = ["--pretrain-from", first_stage, *cycle, "--encoder", "runs/stills-w0.5-e50d0.5-then30d0.25"]
    fer_edge("train", *recipe, *second_cycle, "--out", second_run, "--force")
    fer_edge("export", second_run, "--int8", "--data", DATA, "--out", second, "--force")
    # third: a cycle from that bundle's encoder (recovered from int8), stage 2; exported with 2,000 calibration
    # stills and the encoder's range tops searched on 4,000 more
    third_run, third = "runs/wild-w0.5-then30x2", "bundles/wild-w0.5-then30x2"
    third_cycle = ["--pretrain-from", second, *cycle, "--encoder", "runs/stills-w0.5-then30-then30d0.25"]
    fer_edge("train", *recipe, *third_cycle, "--out", third_run, "--force")
    tuned = ["--calib-stills", "2000", "--tune-stills", "4000"]
    fer_edge("export", third_run, "--int8", "--data", DATA, *tuned, "--out", third, "--force")
    # fourth: a cycle from the third's stage 1, with mixup, then stage 2
    fourth_run, fourth = "runs/wild-w0.5-then30x3-mix0.2", "bundles/wild-w0.5-then30x3-mix0.2"
    mixup_cycle = [*cycle, "--pretrain-mixup", "0.2"]
    fourth_cycle = ["--pretrain-from", "runs/stills-w0.5-then30-then30d0.25", *mixup_cycle]
    fourth_cycle += ["--encoder", "runs/stills-w0.5-then30x3-mix0.2"]
    fer_edge("train", *recipe, *fourth_cycle, "--out", fourth_run, "--force")
    fer_edge("export", fourth_run, "--int8", "--data", DATA, *tuned, "--out", fourth, "--force")
    # fifth: a cycle like the fourth, from its stage 1, then stage 2
    fifth_run, fifth = "runs/wild-w0.5-then30x4-mix0.2", "bundles/wild-w0.5-then30x4-mix0.2"
    fifth_cycle = ["--pretrain-from", "runs/stills-w0.5-then30x3-mix0.2", *mixup_cycle]
    fifth_cycle += ["--encoder", "runs/stills-w0.5-then30x4-mix0.2"]
    fer_edge("train", *recipe, *fifth_cycle, "--out", fifth_run, "--force")
    fer_edge("export", fifth_run, "--int8", "--data", DATA, *tuned, "--out", fifth, "--force")
    # sixth: a cycle from that bundle's encoder (recovered from int8) with sensor noise, then stage 2 without the
    # noise on 8,000 stills per epoch, exported with every other frame mirrored
    sixth_run, sixth = "runs/wild-w0.5-from-default-n0.05-s8000", "bundles/wild-w0.5-from-default-n0.05-s8000-mirror"
    noisy_cycle = ["--pretrain-from", fifth, *mixup_cycle, "--pretrain-noise", "0.05"]
    sixth_stage = [*noisy_cycle, "--encoder", "runs/stills-w0.5-from-default-n0.05", "--stills-per-epoch", "8000"]
    fer_edge("train", *recipe, *sixth_stage, "--out", sixth_run, "--force")
    mirrored = ["--mirror-odd-frames", "--out", sixth, "--force"]
    fer_edge("export", sixth_run, "--int8", "--data", DATA, *tuned, *mirrored)
    # the shipped model: a 15-epoch cycle on the FER+ vote distributions from the sixth bundle's encoder (its stage 2
    # on the votes alone is a by-product), then stage 2 with FER2013's folder label given half of each target's
    # non-neutral share
    votes = ["--stills-labels", "ferplus", "--stills-per-epoch", "8000"]
    ferplus_cycle = ["--pretrain-from", sixth, "--pretrain-epochs", "15", "--pretrain-dropout", "0.25"]
    ferplus_cycle += ["--pretrain-lr", "1e-3", "--pretrain-mixup", "0.2"]
    ferplus_cycle += ["--pretrain-noise", "0.05", "--encoder", "runs/stills-w0.5-from-default-fp15"]
    fer_edge("train", *recipe, *votes, *ferplus_cycle, "--out", "runs/wild-w0.5-ferplus", "--force")
    seventh_run, seventh = "runs/wild-w0.5-ferplus-fw0.5x", "bundles/wild-w0.5-ferplus-fw0.5x"
    blend = ["--folder-weight", "0.5", "--folder-blend", "expressions"]
    fer_edge("train", *recipe, *votes, *blend, *ferplus_cycle, "--out", seventh_run, "--force")
    fer_edge("export", seventh_run, "--int8", "--data", DATA, *tuned, *mirrored[:1], "--out", seventh, "--force")
    reference = ["--reference", os.environ["FER"]] if os.environ.get("FER") else []
    table = [seventh, sixth, fifth, "bundles/wild-w0.5-e50d0.5", "--stills", STILLS, "--sequences", DATA, *reference]
    run(str(BIN / "python"), "benchmarks/wild_table.py", *table, "--out", "reports/wild-table")


def reproduce() -> None:
    setup()
    for out, args in RESULT_RUNS:
        fer_edge("train", "--data", DATA, "--out", out, "--force", *args)
    run(str(BIN / "python"), "benchmarks/results_table.py", *(out for out, _ in RESULT_RUNS))


if __name__ == "__main__":
    commands = {
        "setup": setup,
        "main": main,
        "full": full,
        "test": test,
        "bench": bench,
        "pi-check": pi_check,
        "reproduce": reproduce,
        "wild": wild,
    }
    if len(sys.argv) != 2 or sys.argv[1] not in commands:
        sys.exit(f"usage: python3 tasks.py {{{','.join(commands)}}}\n\n{__doc__}")
    try:
        commands[sys.argv[1]]()
    except subprocess.CalledProcessError as error:
        sys.exit(error.returncode)
