"""bench.json, bench.md and latency_vs_accuracy.png from the results of `run_bench`, written atomically."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from fer_edge.atomic import atomic_dir, atomic_path, check_output_dir
from fer_edge.bench.suite import frame_ms

Log = Callable[[str], None]


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both latency (lower) and accuracy (higher), by latency."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], -1.0
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def _cell(value: float | None, pattern: str) -> str:
    return pattern.format(value) if value is not None else "-"


def crop_words(crop: dict | None) -> str:
    """', blazeface, crop margin 0.1, eyes levelled' for a report line; '' for reports made before it was kept."""
    if not crop:
        return ""
    lift = f", lifted {crop['lift']:g}" if crop.get("lift") else ""
    return f", {crop['detector']}, crop margin {crop['margin']:g}{lift}" + (", eyes levelled" if crop["level"] else "")


def markdown(results: dict) -> str:
    threads = results["config"]["threads"]
    machine = results["machine"]
    lines = [
        "# fer-edge bench",
        "",
        f"Machine: {machine['cpu'] or machine['machine']}, {machine['cpus']} CPUs ({', '.join(machine['cpu_flags'])}); "
        + ", ".join(f"{k} {v}" for k, v in results["versions"].items())
        + ".",
        f"Latency: median of {results['config']['runs']} runs after {results['config']['warmup']} warm-up runs, "
        f"threads {', '.join(map(str, threads))}. "
        + (
            f"Accuracy: each bundle's held-out split, {data}."
            if (data := results["config"]["data"])
            else "Accuracy: not measured (no --data)."
        ),
        "",
    ]
    for key, ceiling in results["ceilings"].items():
        shapes = ", ".join(f"{k} {v['macs_per_second'] / 1e9:.1f}" for k, v in ceiling["shapes"].items())
        lines.append(f"- int8 ceiling, {key} thread(s): {ceiling['macs_per_second'] / 1e9:.1f} G MAC/s ({shapes})")
    lines.append("")
    for t in threads:
        lines += [
            f"## {t} thread(s)",
            "",
            "| bundle | artifact | status | size MB | held-out acc | macro F1 | agreement | max abs dp | "
            "ms / window | ms / new frame | fps | of int8 ceiling |",
            "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for row in results["rows"]:
            timing = row["latency"].get(str(t), {})
            acc = row["accuracy"]
            per_frame = frame_ms(row, t)
            window = timing.get("window", {}).get("p50_ms")
            status = "ok" if row["status"] == "ok" else row["status"].replace("|", "/")
            lines.append(
                f"| {Path(row['bundle']).name} | {row['format']} {row['precision']} {row['mode']} | {status} | "
                f"{row['bytes'] / 1e6:.2f} | {_cell(acc.get('accuracy'), '{:.1%}')} | "
                f"{_cell(acc.get('macro_f1'), '{:.3f}')} | {_cell(acc.get('agreement_with_keras'), '{:.1%}')} | "
                f"{_cell(acc.get('max_probability_difference'), '{:.3f}')} | {_cell(window, '{:.2f}')} | "
                f"{_cell(per_frame, '{:.2f}')} | {_cell(1e3 / per_frame if per_frame else None, '{:.0f}')} | "
                f"{_cell(timing.get('share_of_int8_ceiling'), '{:.0%}')} |"
            )
        streaming = [r for r in results["rows"] if r["mode"] == "streaming" and str(t) in r["latency"]]
        if streaming:
            parts = [
                f"{Path(r['bundle']).name} {r['format']} {r['precision']}: encoder "
                f"{r['latency'][str(t)]['encoder']['p50_ms']:.2f}, head {r['latency'][str(t)]['head']['p50_ms']:.2f}"
                for r in streaming
            ]
            lines += ["", "Streaming parts (p50 ms): " + "; ".join(parts)]
        lines.append("")
    lines += [
        f"## Start-up ({threads[0]} thread(s), a fresh process per model file)",
        "",
        "| bundle | artifact | file | import ms | load ms | first inference ms | warm-up mean ms | peak RSS MB |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in results["rows"]:
        artifact = f"{row['format']} {row['precision']} {row['mode']}"
        for name, numbers in row["startup"].items():
            lines.append(
                f"| {Path(row['bundle']).name} | {artifact} | {Path(name).name} | "
                f"{numbers['import_ms']:.0f} | {numbers['load_ms']:.0f} | {numbers['first_inference_ms']:.1f} | "
                f"{numbers['warmup_mean_ms']:.1f} | {numbers['peak_rss_mb']:.0f} |"
            )
    lines.append("")
    if results.get("folds"):
        lines += [
            "## Over folds (--cv runs)",
            "",
            "| run | artifact | folds | held-out acc mean | std |",
            "|---|---|---:|---:|---:|",
        ]
        for group in results["folds"]:
            lines.append(
                f"| {group['run']} | {group['format']} {group['precision']} {group['mode']} | {group['folds']} | "
                f"{group['mean_accuracy']:.1%} | {group['std_accuracy']:.1%} |"
            )
        lines.append("")
    if results.get("detectors"):
        first = results["detectors"][0]
        lines += [
            f"## Face detectors ({first['threads']} thread(s); every held-out frame of the first bundle pasted on "
            "a 640x480 noise frame at 140-240 px, and as many face-free frames)",
            "",
            "| detector | status | ms p50 | ms p90 | faces found | false faces |",
            "|---|---|---:|---:|---:|---:|",
        ]
        for row in results["detectors"]:
            if row["status"] != "ok":
                lines.append(f"| {row['detector']} | {row['status'].replace('|', '/')} | | | | |")
                continue
            lines.append(
                f"| {row['detector']} | ok | {row['ms_p50']:.2f} | {row['ms_p90']:.2f} | "
                f"{row['faces_found']}/{row['face_frames']} | {row['false_faces']} |"
            )
        lines.append("")
    e2e = results.get("end_to_end")
    if e2e:
        summary = e2e["summary"]
        shares = ", ".join(f"{k} {v:.0%}" for k, v in e2e["stage_share"].items())
        lines += [
            "## End to end",
            "",
            f"{e2e['video']}; {e2e['runtime']}{crop_words(e2e.get('crop'))}: {summary['frames_read']} frames, "
            f"{summary['faces_found']} faces, "
            f"{summary['predictions']} predictions, **{summary['frames_per_second']:.1f} frames/s**; "
            f"time per stage: {shares}.",
        ]
        if "accuracy" in e2e:
            lines.append(
                f"Sequences with a prediction: {e2e['sequences_predicted']}/{e2e['sequences']}; "
                f"accuracy over all sequences: {e2e['accuracy']:.1%}."
            )
        lines.append("")
    return "\n".join(lines)


def plot(results: dict, path: Path) -> None:
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    threads = results["config"]["threads"][0]
    rows = [r for r in results["rows"] if r["status"] == "ok" and frame_ms(r, threads) and r["accuracy"]]
    points = [(frame_ms(r, threads), r["accuracy"]["accuracy"]) for r in rows]
    figure, axis = plt.subplots(figsize=(9, 6))
    markers = {"keras": "s", "tflite": "o", "onnx": "^", "fer": "*"}
    for row, (x, y) in zip(rows, points, strict=True):
        color = "tab:red" if row["precision"] == "int8" else "tab:blue"
        filled = row["mode"] == "streaming"
        axis.scatter(x, y, marker=markers[row["format"]], s=60, color=color if filled else "none", edgecolors=color)
    front = pareto_front(points)
    if front:  # only the front is labelled: the table has every row, and labels on all points collide
        xs, ys = [points[i][0] for i in front], [points[i][1] for i in front]
        axis.step(xs, ys, "k--", lw=1, where="post", label="Pareto front")
        for i in front:
            row = rows[i]
            label = f"{Path(row['bundle']).name} {row['format']} {row['precision']} {row['mode']}"
            axis.annotate(label, points[i], fontsize=7, xytext=(5, -10), textcoords="offset points")
        axis.legend(loc="lower right")
    axis.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    axis.xaxis.set_minor_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    axis.set_xscale("log")
    axis.set_xlabel(f"ms per new frame (median, {threads} thread(s), log scale)")
    axis.set_ylabel("held-out accuracy")
    axis.set_title(
        "Latency vs accuracy (red int8, blue float; filled: streaming; o TFLite, ^ ONNX, s Keras, * fer reference)"
    )
    axis.grid(True, which="both", alpha=0.3)
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=130, format="png")
    plt.close(figure)


def write_report(results: dict, out: Path, force: bool, log: Log = print) -> None:
    check_output_dir(out, force)
    with atomic_dir(out, force) as tmp:
        (tmp / "bench.json").write_text(json.dumps(results, indent=2) + "\n")
        (tmp / "bench.md").write_text(markdown(results))
        if results["config"]["data"] is None:
            log("no --data: no accuracy, so no latency_vs_accuracy.png")
        else:
            try:
                plot(results, tmp / "latency_vs_accuracy.png")
            except ImportError:
                log("matplotlib is not installed: no latency_vs_accuracy.png (pip install matplotlib)")
    log(f"bench report written to {out}/ (bench.md, bench.json, latency_vs_accuracy.png)")
