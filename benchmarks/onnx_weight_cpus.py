#!/usr/bin/env python3
"""7- or 8-bit int8 ONNX weights on the CPUs that run them: each bundle's int8 ONNX encoder run by onnxruntime
natively, on an emulated x86 CPU without VNNI or AVX-512 (qemu-x86_64 -cpu Haswell: AVX2 only) and on an emulated
Raspberry Pi 4 (qemu-aarch64, Cortex-A72, pi_check.py's arm64 onnxruntime). Training data only: the probe is
--probe of the training stills `fer-edge export --tune-stills` draws, evenly spaced (none in the calibration); the
score is how often the bundle's float head, fed the int8 features, keeps the class the float encoder's features get.

    python benchmarks/onnx_weight_cpus.py runs/wild-w0.5-then30x4-mix0.2 bundles/B7 bundles/B8 \\
        [--probe 1000] [--cpus native,haswell,cortex-a72] [--out reports/onnx-weight-cpus]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

CPUS = ("native", "haswell", "cortex-a72")

# Runs in the emulated interpreters too, so numpy and onnxruntime only.
FEATURES = r"""
import sys, numpy as np, onnxruntime as ort
model, source, target = sys.argv[1:4]
options = ort.SessionOptions()
options.intra_op_num_threads = 1
session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
name, images = session.get_inputs()[0].name, np.load(source)
np.save(target, np.concatenate([session.run(None, {name: images[i : i + 64]})[0] for i in range(0, len(images), 64)]))
"""


def features_on(cpu: str, model: Path, images: Path, scratch: Path, cache: Path) -> np.ndarray:
    """The encoder's features for the saved images, computed by onnxruntime on `cpu`."""
    target = scratch / f"{cpu}-{model.parent.name}.npy"
    args = ["-c", FEATURES, str(model), str(images), str(target)]
    if cpu == "native":
        done = subprocess.run([sys.executable, *args], capture_output=True, text=True)
    elif cpu == "haswell":
        if shutil.which("qemu-x86_64-static") is None:
            raise SystemExit("qemu-x86_64-static not found; install it with: sudo apt install qemu-user-static")
        done = subprocess.run(
            ["qemu-x86_64-static", "-cpu", "Haswell", sys.executable, *args], capture_output=True, text=True
        )
    else:
        from pi_check import arm_cpuinfo, build_root, emulate, install_wheels

        root, site = build_root(cache), install_wheels(cache, "onnxruntime")
        cpuinfo = None
        if os.geteuid() == 0:  # qemu 7.2 shows the host's x86 cpuinfo, which onnxruntime's arm64 build trips on
            cpuinfo = scratch / "cpuinfo"
            cpuinfo.write_text(arm_cpuinfo(os.cpu_count() or 1))
        done = emulate(root, site, cpu, args, timeout=3600, cpuinfo=cpuinfo)
    if done.returncode != 0:
        raise SystemExit(f"{cpu}: the encoder run failed (exit {done.returncode}): {done.stderr.strip()[-400:]}")
    return np.load(target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="the run the bundles were exported from (its training stills)")
    parser.add_argument("bundles", type=Path, nargs="+", help="bundles with int8 ONNX files")
    parser.add_argument("--stills", type=Path, default=Path("../shared/data/FER2013"))
    parser.add_argument("--calib-stills", type=int, default=2000, help="as the bundles' fer-edge export --calib-stills")
    parser.add_argument("--tune-stills", type=int, default=4000, help="as fer-edge export --tune-stills")
    parser.add_argument("--probe", type=int, default=1000, help="this many of those stills, evenly spaced, are run")
    parser.add_argument("--cpus", default=",".join(CPUS), help=f"comma list of {', '.join(CPUS)}")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "fer-edge" / "pi")
    parser.add_argument("--out", type=Path, default=Path("reports/onnx-weight-cpus"))
    args = parser.parse_args()
    cpus = [c.strip() for c in args.cpus.split(",") if c.strip()]
    if unknown := set(cpus) - set(CPUS):
        raise SystemExit(f"--cpus takes {', '.join(CPUS)}; unknown: {', '.join(sorted(unknown))}")

    from elu_floor import closeness, write_report

    from fer_edge.backends import open_model
    from fer_edge.bench.suite import machine_info
    from fer_edge.export.bundle import ExportConfig, calibration_stills, training_stills, tuning_stills
    from fer_edge.export.run_folder import load_run
    from fer_edge.manifest import read_manifest

    run = load_run(args.run)
    export = ExportConfig(
        run=str(args.run), stills=str(args.stills), calib_stills=args.calib_stills, tune_stills=args.tune_stills
    )
    train = training_stills(run, export, print)
    probe = tuning_stills(export, train, calibration_stills(export, train, print), print)
    keep = np.unique(np.linspace(0, len(probe) - 1, min(args.probe, len(probe))).round().astype(int))
    images, labels = probe.images[keep], probe.labels[keep]  # evenly spaced: the draw's order groups classes
    print(f"probe: {len(images)} training stills, per class {np.bincount(labels).tolist()}")
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        source = Path(scratch) / "images.npy"
        np.save(source, images)
        for bundle in args.bundles:
            recorded = read_manifest(bundle).calibration.get("onnx_weight_bits") or 7  # bundles before the option: 7
            bits = recorded if isinstance(recorded, int) else recorded[0]  # encoder_int8.onnx has the first width
            head = open_model(bundle / "head_float32.onnx", threads=1)
            steps = head.input.shape[1]

            def classify(features: np.ndarray, head=head, steps=steps) -> np.ndarray:
                return head.run(np.repeat(features[:, None], steps, axis=1))

            reference = open_model(bundle / "encoder_float32.onnx", threads=1).run(images)
            decided = classify(reference)
            for cpu in cpus:
                features = features_on(cpu, bundle / "encoder_int8.onnx", source, Path(scratch), args.cache)
                rows.append({"bundle": str(bundle), "weight_bits": bits, "cpu": cpu})
                rows[-1] |= closeness(features, reference, decided, classify)
                print(f"{bundle} ({bits}-bit) on {cpu}: class kept {rows[-1]['agreement']:.1%}", flush=True)

    lines = [
        f"int8 ONNX encoders against their float ones on {len(images)} training stills of {args.run} outside the "
        f"calibration; native is {machine_info()['cpu']}, haswell qemu-x86_64 -cpu Haswell, cortex-a72 "
        "qemu-aarch64 (1 thread each)",
        "",
        "| bundle | weights | CPU | feature cosine, median | 5th pct | float head's class kept | beyond near-ties |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['bundle']} | {row['weight_bits']}-bit | {row['cpu']} | {row['cosine_median']:.4f} | "
            f"{row['cosine_p5']:.4f} | {row['agreement']:.1%} | {row['agreement_beyond_ties']:.1%} |"
        )
    write_report(args.out, lines, {"run": str(args.run), "probe": len(images), "rows": rows})


if __name__ == "__main__":
    main()
