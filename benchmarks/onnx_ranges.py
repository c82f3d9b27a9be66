#!/usr/bin/env python3
"""How closely a run's int8 ONNX encoder follows its float one with the TFLite files' range edits (export/ranges.py):
as calibrated, with the ELU floor, and with the floor and a bundle's searched tops. Training data only: the
calibration is the export's (training sequences and its class-stratified training stills), the probe is the other
training stills --tune-stills searches on. Reports the cosine between int8 and float features and how often the
float head, fed int8 features, picks the class it picks from float ones. One thread, this machine.

    python benchmarks/onnx_ranges.py runs/wild-w0.5-then30x2 [--tops-from fer_edge/models/default] \\
        [--out reports/onnx-ranges]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from fer_edge.backends import open_model
from fer_edge.bench.suite import machine_info
from fer_edge.export.bundle import ExportConfig, calibration_stills, load_matching_data, training_stills, tuning_stills
from fer_edge.export.calibration import calibration_set
from fer_edge.export.convert import quantize_onnx, to_onnx
from fer_edge.export.ranges import ELU_FLOOR
from fer_edge.export.run_folder import load_run
from fer_edge.export.twin import streaming_parts, unrolled_twin
from fer_edge.manifest import read_manifest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from elu_floor import closeness, write_report  # noqa: E402 - the TFLite floor's benchmark scores the same way


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="a run folder of the wild recipe")
    parser.add_argument("--stills", type=Path, default=Path("../shared/data/FER2013"))
    parser.add_argument("--calib-stills", type=int, default=2000, help="as fer-edge export --calib-stills")
    parser.add_argument("--tune-stills", type=int, default=4000, help="as fer-edge export --tune-stills: the probe")
    parser.add_argument(
        "--tops-from", type=Path, default=Path("fer_edge/models/default"), help="a bundle whose searched tops to apply"
    )
    parser.add_argument(
        "--weights",
        default="",
        help="comma-separated weight kinds also tried with floor + tops (the first three rows are per-tensor 7-bit): "
        "per-channel-7, per-channel-8, per-tensor-8",
    )
    parser.add_argument("--out", type=Path, default=Path("reports/onnx-ranges"))
    args = parser.parse_args()

    run = load_run(args.run)
    export = ExportConfig(
        run=str(args.run), stills=str(args.stills), calib_stills=args.calib_stills, tune_stills=args.tune_stills
    )
    all_stills = training_stills(run, export, print)
    stills = calibration_stills(export, all_stills, print)  # the very sample fer-edge export draws
    probe = tuning_stills(export, all_stills, stills, print)  # and the one --tune-stills searches on
    train = calibration_set(load_matching_data(run, export.data), run.split)
    frames = np.concatenate([train.frames, stills.as_sequences()])
    tops = read_manifest(args.tops_from).calibration["tflite_range_tops"]
    encoder, head = streaming_parts(unrolled_twin(run.model, run.width))
    steps = run.model.input_shape[1]

    def classify(features: np.ndarray) -> np.ndarray:
        return head.predict(np.repeat(features[:, None], steps, axis=1), verbose=0)

    variants = {  # name: (floor, tops, per-channel weights, 7-bit weights)
        "as calibrated": (None, None, False, True),
        f"floor {ELU_FLOOR:g}": (ELU_FLOOR, None, False, True),
        "floor + tops": (ELU_FLOOR, tops, False, True),
    }
    for kind in filter(None, args.weights.split(",")):
        granularity, bits = kind.rsplit("-", 1)
        variants[f"floor + tops, {kind}-bit weights"] = (ELU_FLOOR, tops, granularity == "per-channel", bits == "7")
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        float_path, int8_path = Path(scratch) / "encoder_float32.onnx", Path(scratch) / "encoder_int8.onnx"
        to_onnx(encoder, float_path)
        reference = open_model(float_path, threads=1).run(probe.images)
        decided = classify(reference)
        for name, (floor, factors, per_channel, seven_bits) in variants.items():
            quantize_onnx(
                float_path,
                int8_path,
                frames.reshape(-1, *frames.shape[2:]),
                per_channel=per_channel,
                reduce_range=seven_bits,
                elu_floor=floor,
                tops=factors,
            )
            model = open_model(int8_path, threads=1)
            features = model.run(probe.images)
            times = []
            for image in probe.images[:210]:  # 10 warm-up runs, then 200 timed
                started = time.perf_counter()
                model.run(image[None])
                times.append(time.perf_counter() - started)
            rows.append(
                {
                    "variant": name,
                    "elu_floor": floor,
                    "tops": factors,
                    **closeness(features, reference, decided, classify),
                    "per_channel": per_channel,
                    "weight_bits": 7 if seven_bits else 8,
                    "ms_p50": 1000 * float(np.median(times[10:])),
                }
            )
            print(f"{name}: cosine 5th pct {rows[-1]['cosine_p5']:.4f}, class kept {rows[-1]['agreement']:.1%}")

    lines = [
        f"int8 ONNX encoder of {args.run} against float, on {len(probe)} training stills outside the calibration "
        f"({len(train)} training sequences and {len(stills)} stills); tops from {args.tops_from} "
        f"({machine_info()['cpu']}, 1 thread)",
        "",
        "| ranges | feature cosine, median | 5th percentile | float head's class kept | beyond near-ties | ms p50 |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['variant']} | {row['cosine_median']:.4f} | {row['cosine_p5']:.4f} | {row['agreement']:.1%} | "
            f"{row['agreement_beyond_ties']:.1%} | {row['ms_p50']:.2f} |"
        )
    write_report(args.out, lines, {"run": str(args.run), "probe": len(probe), "rows": rows})


if __name__ == "__main__":
    main()
