#!/usr/bin/env python3
"""Run fer-edge's runtime on emulated arm64 (Raspberry Pi 4's Cortex-A72) and compare it with this machine.

Builds, in a cache folder outside the repo (default ~/.cache/fer-edge/pi), a Python 3.11 root from Debian
bookworm's arm64 packages (what Raspberry Pi OS 64-bit is built on) and the registry's aarch64 wheels, then runs
with `qemu-aarch64-static` (Debian package qemu-user-static) and QEMU_CPU=cortex-a72:
  1. the parity check: the int8 streaming model of a bundle (default: the shipped one, TFLite only; pass
     --bundle with ONNX files for --runtime onnxruntime) on held-out CK+48 sequences (seeded random windows
     when CK+48 is absent), predicted classes and probabilities compared with this machine's;
  2. the face detector (BlazeFace, the runtime's default) on a short clip of those faces, its boxes compared
     with this machine's;
  3. `fer-edge run` on that clip (the video path: picamera2 is not needed).
Nothing binary enters the repository. Emulated time says nothing about a real Pi's speed.

qemu 7.2 (Debian bookworm's) passes the host's x86 /proc/cpuinfo through to the arm64 program; the cpuinfo
library inside ai-edge-litert >= 2.2 and onnxruntime then crashes (SIGSEGV in cpuinfo_arm_linux_init; a real Pi's
kernel shows its own ARM cpuinfo, and qemu 10 writes an ARM one). With --cpuinfo cortex-a72 (the default when the
emulator shows a non-ARM one and this runs as root) the emulated program sees a Cortex-A72 /proc/cpuinfo instead,
bind-mounted in a private mount namespace.

    python benchmarks/pi_check.py [--runtime tflite-runtime] [--cpu cortex-a72] [--out reports/pi_check.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEBIAN_PACKAGES = (
    "python3.11-minimal libpython3.11-minimal libpython3.11-stdlib libc6 zlib1g libexpat1 libffi8 libgcc-s1 "
    "libstdc++6 libssl3 libbz2-1.0 liblzma5 libsqlite3-0 libncursesw6 libtinfo6 libreadline8 libuuid1 "
    "libcrypt1 libgomp1 libdb5.3 libnsl2 libtirpc3"
).split()
PLATFORMS = ("manylinux2014_aarch64", "manylinux_2_27_aarch64", "manylinux_2_28_aarch64", "manylinux_2_34_aarch64")
RUNTIMES = {  # --runtime -> what pip installs next to the base runtime (numpy<2 for tflite-runtime's sake)
    "tflite-runtime": ["tflite-runtime==2.14.0"],
    "ai-edge-litert": ["ai-edge-litert"],
    "ai-edge-litert==2.1.0": ["ai-edge-litert==2.1.0"],
    "onnxruntime": [],
}
BASE = ["numpy<2", "opencv-python-headless<5", "onnxruntime", "typer"]

PARITY = r"""
import json, sys, numpy as np
from fer_edge.model import EmotionModel
bundle, fmt, backend = sys.argv[3], sys.argv[4], (sys.argv[5] or None)
model = EmotionModel(bundle, fmt, "int8", streaming=True, tflite_backend=backend)
windows = np.load(sys.argv[1])["windows"]
json.dump({"probabilities": [model.predict_window(w).tolist() for w in windows]}, open(sys.argv[2], "w"))
"""

DETECT = r"""
import json, sys
sys.path.insert(0, sys.argv[5])
from pi_check import detect_boxes
json.dump({"boxes": detect_boxes(sys.argv[1], sys.argv[3], sys.argv[4] or None)}, open(sys.argv[2], "w"))
"""
DETECTOR = "blazeface"
TIE_MARGIN = 0.05  # the export gate's default --tie-margin
MIN_BOX_IOU = 0.9  # the same face found on both machines: boxes this close (int8 vs float kernels differ a little)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runtime", choices=sorted(RUNTIMES), default="tflite-runtime")
    parser.add_argument("--cpu", default="cortex-a72", help="QEMU_CPU: cortex-a72 (Pi 4), cortex-a76 (Pi 5), max")
    parser.add_argument("--qemu", default="qemu-aarch64-static", help="the user-mode emulator to run with")
    parser.add_argument("--bundle", type=Path, default=None, help="bundle to check (default: the shipped model)")
    parser.add_argument(
        "--cpuinfo",
        choices=("auto", "emulator", "cortex-a72"),
        default="auto",
        help="/proc/cpuinfo the program sees: the emulator's, a Cortex-A72 one (needs root), or auto",
    )
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "fer-edge" / "pi")
    parser.add_argument("--data", type=Path, default=REPO / ".." / "shared" / "data" / "CK+48")
    parser.add_argument("--sequences", type=int, default=12, help="held-out sequences to compare")
    parser.add_argument("--out", type=Path, default=None, help="write the report as JSON here")
    args = parser.parse_args(argv)
    if args.sequences < 1:
        parser.error("--sequences must be at least 1")
    return args


def compare(
    reference: np.ndarray, emulated: np.ndarray, float_model: np.ndarray | None = None, tie_margin: float = TIE_MARGIN
) -> dict:
    """Parity of two (N, classes) probability arrays: same predicted classes, largest difference, and for each
    window whose class differs, how close its top two classes were on x86 (a near tie flips on small noise).
    With the float Keras model's probabilities for the same windows, also how far each side is from them.
    It passes when every flip is a near-tie (x86 put the two classes within `tie_margin`), as export's gate
    judges int8 against float (fer_edge.metrics.parity)."""
    from fer_edge.metrics import parity

    if reference.shape != emulated.shape:
        raise ValueError(f"shapes differ: {reference.shape} on x86, {emulated.shape} emulated")
    same = reference.argmax(1) == emulated.argmax(1)
    near_ties = parity(emulated, reference, reference.argmax(1), tie_margin)["near_tie_flips"]
    top_two = np.sort(reference, axis=1)[:, -2:]
    flips = [
        {"window": int(i), "x86_top_two_margin": round(float(top_two[i, 1] - top_two[i, 0]), 4)}
        for i in np.flatnonzero(~same)
    ]
    result = {
        "windows": int(len(same)),
        "same_class": int(same.sum()),
        "max_probability_difference": float(np.max(np.abs(reference - emulated))),
        "near_tie_flips": near_ties,
        "passed": near_ties == len(flips),
        "flips": flips,
    }
    if float_model is not None:
        result["max_difference_from_float"] = {
            side: float(np.max(np.abs(probabilities - float_model)))
            for side, probabilities in (("x86", reference), ("arm64", emulated))
        }
    return result


def compare_boxes(reference: list[list[list[int]]], emulated: list[list[list[int]]]) -> dict:
    """Per frame, the detector's boxes on x86 and emulated arm64: the same number of faces, each emulated box
    overlapping an x86 one by at least MIN_BOX_IOU."""
    from fer_edge.tracking import iou

    if len(reference) != len(emulated):
        raise ValueError(f"frame counts differ: {len(reference)} on x86, {len(emulated)} emulated")
    same, overlaps = 0, []
    for ours, theirs in zip(reference, emulated, strict=True):
        best = [max((iou(tuple(b), tuple(a)) for a in ours), default=0.0) for b in theirs]
        overlaps += best
        same += len(ours) == len(theirs) and all(o >= MIN_BOX_IOU for o in best)
    return {
        "frames": len(reference),
        "same_faces": same,
        "faces_x86": sum(map(len, reference)),
        "faces_arm64": sum(map(len, emulated)),
        "min_iou": float(min(overlaps, default=1.0)),
        "passed": same == len(reference),
    }


def report_lines(report: dict) -> list[str]:
    qemu = f", {report['qemu']}" if report.get("qemu") else ""
    cpuinfo = f", /proc/cpuinfo: {report['cpuinfo']}" if report.get("cpuinfo") else ""
    lines = [f"arm64 emulation ({report['cpu']}, {report['runtime']}{qemu}{cpuinfo}): {report['status']}"]
    for fmt, parity in report.get("parity", {}).items():
        lines.append(
            f"  {fmt} int8 streaming: {parity['same_class']}/{parity['windows']} same class, "
            f"max |dp| {parity['max_probability_difference']:.2g}"
        )
        if "max_difference_from_float" in parity:
            away = parity["max_difference_from_float"]
            lines.append(f"    max |dp| from the float Keras model: x86 {away['x86']:.2g}, arm64 {away['arm64']:.2g}")
        for flip in parity.get("flips", []):
            lines.append(
                f"    window {flip['window']}: class differs; top-two margin on x86 {flip['x86_top_two_margin']:.2g}"
                + (" (a near-tie)" if flip["x86_top_two_margin"] < TIE_MARGIN else "")
            )
    detector = report.get("detector")
    if detector and "error" not in detector:
        lines.append(
            f"  {detector['name']} on the clip: {detector['same_faces']}/{detector['frames']} frames with the same "
            f"faces (x86 {detector['faces_x86']}, arm64 {detector['faces_arm64']}), min IoU {detector['min_iou']:.2f}"
        )
    elif detector:
        lines.append(f"  {detector['name']}: {detector['error']}")
    if "run" in report:
        run = report["run"]
        lines.append(f"  fer-edge run on a clip: exit {run['exit']}, {run['predictions']} predictions")
    return lines


def arm_cpuinfo(cpus: int) -> str:
    """/proc/cpuinfo as a Raspberry Pi 4's kernel writes it (Cortex-A72: implementer 0x41, part 0xd08)."""
    block = (
        "processor\t: {n}\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\n"
        "CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n"
    )
    return "".join(block.format(n=n) for n in range(cpus)) + "Hardware\t: BCM2835\nModel\t\t: Raspberry Pi 4 Model B\n"


def is_arm_cpuinfo(text: str) -> bool:
    return "CPU implementer" in text and "vendor_id" not in text


def build_root(cache: Path) -> Path:
    root = cache / "root"
    if (root / "usr" / "bin" / "python3.11").exists():
        return root
    lists, debs = cache / "lists", cache / "debs"
    for folder in (lists / "partial", debs, cache / "aptcache" / "archives" / "partial"):
        folder.mkdir(parents=True, exist_ok=True)
    apt = ["apt-get", "-q", "-oAPT::Architecture=arm64", "-oAPT::Architectures=arm64"]
    apt += [f"-oDir::State::Lists={lists}", f"-oDir::Cache={cache / 'aptcache'}"]
    subprocess.run([*apt, "update"], check=True, capture_output=True)
    subprocess.run([*apt, "download", *DEBIAN_PACKAGES], check=True, cwd=debs, capture_output=True)
    for deb in debs.glob("*.deb"):
        subprocess.run(["dpkg", "-x", str(deb), str(root)], check=True)
    return root


def install_wheels(cache: Path, runtime: str) -> Path:
    site = cache / f"site-{runtime}"
    if site.exists():
        return site
    wheels = cache / f"wheels-{runtime}"
    command = [sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:", "--python-version", "3.11"]
    command += ["--implementation", "cp", "-d", str(wheels)] + [f"--platform={p}" for p in PLATFORMS]
    subprocess.run([*command, *BASE, *RUNTIMES[runtime]], check=True)
    tmp = Path(tempfile.mkdtemp(dir=cache))
    for wheel in wheels.glob("*.whl"):
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(tmp)
    tmp.rename(site)
    return site


def installed_layout(folder: Path) -> Path:
    """`folder`, remade: a fer_edge package laid out as pip installs it (the repo's fer_edge/ with train/ and export/
    inside, pyproject's package-dir mapping), made of symlinks to the working tree, for the emulated PYTHONPATH."""
    if folder.exists():
        shutil.rmtree(folder)
    package = folder / "fer_edge"
    package.mkdir(parents=True)
    for entry in (REPO / "fer_edge").iterdir():
        if entry.name != "__pycache__":
            (package / entry.name).symlink_to(entry)
    for wing in ("train", "export"):
        (package / wing).symlink_to(REPO / wing)
    return folder


def emulate(
    root: Path,
    site: Path,
    cpu: str,
    args: list[str],
    emulator: str = "qemu-aarch64-static",
    timeout: int = 900,
    cpuinfo: Path | None = None,
) -> subprocess.CompletedProcess:
    """Run the emulated python3.11 with `args`; with `cpuinfo`, that file is its /proc/cpuinfo."""
    qemu = shutil.which(emulator)
    # the package as pip lays it out (the CLI imports fer_edge.export), and not the repo's own folder from the cwd
    layout = installed_layout(site.parent / "layout")
    paths = {"PYTHONPATH": f"{site}:{layout}", "PYTHONNOUSERSITE": "1", "PYTHONSAFEPATH": "1"}
    env = {**os.environ, "QEMU_CPU": cpu, **paths}
    command = [qemu, "-L", str(root), str(root / "usr" / "bin" / "python3.11"), *args]
    if cpuinfo is not None:
        command = ["unshare", "-m", "sh", "-c", 'mount --bind "$0" /proc/cpuinfo && exec "$@"', str(cpuinfo), *command]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)


def emulated_cpuinfo(root: Path, site: Path, cpu: str, emulator: str) -> str:
    """The /proc/cpuinfo text the emulated program sees."""
    return emulate(root, site, cpu, ["-c", "print(open('/proc/cpuinfo').read())"], emulator).stdout


def choose_cpuinfo(choice: str, emulated_text: str, is_root: bool) -> bool:
    """Whether to bind a Cortex-A72 /proc/cpuinfo: asked for, or (auto) the emulator shows a foreign one."""
    if choice == "cortex-a72" and not is_root:
        raise SystemExit("--cpuinfo cortex-a72 bind-mounts /proc/cpuinfo in a private namespace: run as root")
    if choice == "auto" and not is_arm_cpuinfo(emulated_text) and not is_root:
        print(
            "warning: this emulator shows the host's /proc/cpuinfo, on which ai-edge-litert >= 2.2 and onnxruntime "
            "crash; run as root (a Cortex-A72 one is then bind-mounted) or use qemu 10"
        )
    return choice == "cortex-a72" or (choice == "auto" and is_root and not is_arm_cpuinfo(emulated_text))


def detect_boxes(clip: str, detector: str, backend: str | None) -> list[list[list[int]]]:
    """The detector's boxes (x, y, w, h) on every frame of a video; run here and, through DETECT, emulated."""
    import cv2

    from fer_edge.detect import open_detector

    found = open_detector(detector, threads=1, tflite_backend=backend)
    capture, boxes = cv2.VideoCapture(clip), []
    while True:
        ok, frame = capture.read()
        if not ok:
            return boxes
        boxes.append([list(d.box) for d in found.detect(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))])


def check_detector(clip: Path, scratch: Path, backend: str, run_emulated: Callable) -> dict:
    """BlazeFace on every frame of the clip, here and emulated; `run_emulated(args)` runs the arm64 python."""
    output = scratch / "boxes-arm64.json"
    done = run_emulated(["-c", DETECT, str(clip), str(output), DETECTOR, backend, str(Path(__file__).parent)])
    if done.returncode != 0:
        return {"name": DETECTOR, "error": f"exit {done.returncode}: {done.stderr.strip()[-400:]}"}
    emulated = json.loads(output.read_text())["boxes"]
    return {"name": DETECTOR, **compare_boxes(detect_boxes(str(clip), DETECTOR, None), emulated)}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from fer_edge.bench.clip import write_face_clip
    from fer_edge.bench.suite import heldout
    from fer_edge.default_model import DEFAULT_BUNDLE
    from fer_edge.manifest import read_manifest
    from fer_edge.model import EmotionModel

    bundle = args.bundle or DEFAULT_BUNDLE
    manifest = read_manifest(bundle)
    if (args.data / "happy").is_dir():  # the first held-out sequences (a model may also predict neutral)
        sequences, keras = heldout(manifest, Path(bundle), str(args.data))
        windows, float_model = sequences.frames[: args.sequences], keras[: args.sequences]
    else:
        print(f"CK+48 not found at {args.data}: comparing on seeded random windows")
        windows = np.random.default_rng(0).random((args.sequences, 3, 48, 48, 1), dtype=np.float32)
        float_model = None
    root, site = build_root(args.cache), install_wheels(args.cache, args.runtime)
    if shutil.which(args.qemu) is None:
        raise SystemExit(f"{args.qemu} not found; install it with: sudo apt install qemu-user-static")
    version = subprocess.run([args.qemu, "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    shown = emulated_cpuinfo(root, site, args.cpu, args.qemu)
    bind = choose_cpuinfo(args.cpuinfo, shown, os.geteuid() == 0)
    report: dict = {"cpu": args.cpu, "runtime": args.runtime, "qemu": version, "status": "passed", "parity": {}}
    report["cpuinfo"] = (
        "cortex-a72 (bind-mounted)" if bind else "emulator's" + ("" if is_arm_cpuinfo(shown) else " (host, not ARM)")
    )
    available = {a.format for a in manifest.artifacts if a.precision == "int8"}
    formats = [f for f in ("tflite", "onnx") if f in available and (f == "onnx") == (args.runtime == "onnxruntime")]
    if not formats:
        raise SystemExit(f"{bundle} has no int8 model for {args.runtime}; pass --bundle with one")
    backend = {"tflite-runtime": "tflite-runtime"}.get(args.runtime, "ai-edge-litert")
    with tempfile.TemporaryDirectory() as scratch:
        cpuinfo = Path(scratch) / "cpuinfo" if bind else None
        if cpuinfo is not None:
            cpuinfo.write_text(arm_cpuinfo(os.cpu_count() or 1))
        inputs = Path(scratch) / "windows.npz"
        np.savez(inputs, windows=windows)
        for fmt in formats:
            reference = np.stack([EmotionModel(bundle, fmt, "int8").predict_window(w) for w in windows])
            output = Path(scratch) / f"{fmt}.json"
            command = ["-c", PARITY, str(inputs), str(output), str(bundle), fmt, backend]
            done = emulate(root, site, args.cpu, command, args.qemu, cpuinfo=cpuinfo)
            if done.returncode != 0:
                report["status"] = "failed"
                report["parity"][fmt] = {"error": f"exit {done.returncode}: {done.stderr.strip()[-400:]}"}
                continue
            emulated = np.asarray(json.loads(output.read_text())["probabilities"], dtype=np.float32)
            report["parity"][fmt] = compare(reference, emulated, float_model)
            if not report["parity"][fmt]["passed"]:
                report["status"] = "failed"
        clip = Path(scratch) / "clip.avi"
        write_face_clip(windows[:3], clip)
        if args.runtime != "onnxruntime":  # BlazeFace needs a TFLite runtime; with onnxruntime alone, Haar
            report["detector"] = check_detector(
                clip, Path(scratch), backend, lambda c: emulate(root, site, args.cpu, c, args.qemu, cpuinfo=cpuinfo)
            )
            if not report["detector"].get("passed"):
                report["status"] = "failed"
        command = ["-m", "fer_edge.cli", "run", "--bundle", str(bundle), "--source", str(clip), "--threads", "1"]
        command += ["--detector", DETECTOR if args.runtime != "onnxruntime" else "haar"]
        if args.runtime == "tflite-runtime":
            command += ["--tflite-backend", "tflite-runtime"]
        elif args.runtime == "onnxruntime":
            command += ["--format", "onnx"]
        done = emulate(root, site, args.cpu, command, args.qemu, cpuinfo=cpuinfo)
        predictions = sum(line.startswith("{") for line in done.stdout.splitlines())
        report["run"] = {"exit": done.returncode, "predictions": predictions, "summary": done.stderr.strip()[-400:]}
        if done.returncode != 0 or predictions == 0:
            report["status"] = "failed"
    for line in report_lines({**report, "parity": {k: v for k, v in report["parity"].items() if "error" not in v}}):
        print(line)
    for fmt, parity in report["parity"].items():
        if "error" in parity:
            print(f"  {fmt}: {parity['error']}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0 if report["status"] == "passed" else 1


if __name__ == "__main__":
    sys.exit(main())
