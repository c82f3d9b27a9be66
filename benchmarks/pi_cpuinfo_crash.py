#!/usr/bin/env python3
"""Reproduce, at the C level, why ai-edge-litert >= 2.2 and onnxruntime crash under qemu 7.2 - and not on a Pi.

Creates one interpreter (or ONNX Runtime session) for a model under the emulator twice: with the /proc/cpuinfo
the emulator shows, and with a Cortex-A72 one bind-mounted over it (needs root). With --gdb it also runs the
first case under qemu's gdb stub and prints where the SIGSEGV lands (needs gdb-multiarch). Measured with qemu
7.2, cortex-a72, ai-edge-litert 2.3.0 and the shipped full_int8.tflite: SIGSEGV in cpuinfo_arm_linux_init
(called from fully_connected::Init via cpuinfo_initialize) with qemu's pass-through x86 /proc/cpuinfo; the
same binary creates the interpreter once it reads an ARM /proc/cpuinfo, as a Pi's kernel writes one.

    sudo python benchmarks/pi_cpuinfo_crash.py [--runtime ai-edge-litert] [--model FILE] [--gdb]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pi_check  # noqa: E402

CREATE = {
    "ai-edge-litert": "from ai_edge_litert.interpreter import Interpreter as I; import sys; I(model_path=sys.argv[1])",
    "onnxruntime": "import onnxruntime as o, sys; o.InferenceSession(sys.argv[1], providers=['CPUExecutionProvider'])",
}
DEFAULT_MODEL = {
    "ai-edge-litert": pi_check.REPO / "fer_edge" / "models" / "default" / "full_int8.tflite",
    "onnxruntime": pi_check.REPO / "bundles" / "edge200-w0.5" / "full_int8.onnx",  # made by tasks.py bench
}
GDB_PORT = 12345


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runtime", choices=sorted(CREATE), default="ai-edge-litert")
    parser.add_argument("--model", type=Path, default=None, help="model to open (default: a full int8 model)")
    parser.add_argument("--cpu", default="cortex-a72")
    parser.add_argument("--qemu", default="qemu-aarch64-static")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "fer-edge" / "pi")
    parser.add_argument("--gdb", action="store_true", help="print the crash's C backtrace (needs gdb-multiarch)")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    return parser.parse_args(argv)


def outcome(returncode: int) -> str:
    if returncode == 0:
        return "created"
    if returncode in (-11, 139):
        return "SIGSEGV"
    return f"exit {returncode}"


def backtrace(root: Path, site: Path, args: argparse.Namespace, model: Path) -> list[str]:
    """Top C frames and the faulting instruction of the crash, from qemu's gdb stub."""
    env = {**os.environ, "QEMU_CPU": args.cpu, "PYTHONPATH": str(site), "PYTHONNOUSERSITE": "1"}
    python = str(root / "usr" / "bin" / "python3.11")
    command = [shutil.which(args.qemu), "-g", str(GDB_PORT), "-L", str(root), python, "-c", CREATE[args.runtime]]
    emulated = subprocess.Popen([*command, str(model)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1)
    script = [
        "set pagination off",
        f"set sysroot {root}",
        "set solib-search-path " + ":".join(sorted({str(so.parent) for so in site.rglob("*.so")})),
        f"target remote :{GDB_PORT}",
        "continue",
        "bt 4",
        "x/i $pc",
    ]
    gdb = ["gdb-multiarch", "-batch", "-nx"] + [part for line in script for part in ("-ex", line)] + [python]
    try:
        text = subprocess.run(gdb, capture_output=True, text=True, timeout=600).stdout
    finally:
        emulated.kill()
    return [line for line in text.splitlines() if line.startswith(("#", "=>", "Thread"))]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    model = args.model or DEFAULT_MODEL[args.runtime]
    if not model.is_file():
        raise SystemExit(f"model {model} not found; pass --model with a .tflite or .onnx file")
    if os.geteuid() != 0:
        raise SystemExit("the Cortex-A72 /proc/cpuinfo is bind-mounted in a private namespace: run as root")
    root, site = pi_check.build_root(args.cache), pi_check.install_wheels(args.cache, args.runtime)
    shown = pi_check.emulated_cpuinfo(root, site, args.cpu, args.qemu)
    result = {"runtime": args.runtime, "model": str(model), "cpu": args.cpu, "qemu": args.qemu}
    result["emulator_cpuinfo_is_arm"] = pi_check.is_arm_cpuinfo(shown)
    with tempfile.TemporaryDirectory() as scratch:
        cpuinfo = Path(scratch) / "cpuinfo"
        cpuinfo.write_text(pi_check.arm_cpuinfo(os.cpu_count() or 1))
        for name, bound in (("emulator's /proc/cpuinfo", None), ("Cortex-A72 /proc/cpuinfo", cpuinfo)):
            done = pi_check.emulate(
                root, site, args.cpu, ["-c", CREATE[args.runtime], str(model)], args.qemu, 600, bound
            )
            result[name] = outcome(done.returncode)
            print(f"{args.runtime}, {args.qemu}, {args.cpu}, {name}: {result[name]}")
    if args.gdb:
        result["backtrace"] = backtrace(root, site, args, model)
        print("\n".join(result["backtrace"]))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
