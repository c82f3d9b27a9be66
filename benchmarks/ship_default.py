#!/usr/bin/env python3
"""Copy a bundle's TFLite int8 models (whole window, encoder, head) and their manifest into the package as the
default model that `fer-edge run` uses without --bundle.

The rule (fixed before looking at any held-out number): the widest model of the bench whose shipped files fit
in 8 MB, so that streaming (encoder + head) is available and the wheel stays small.

    python benchmarks/ship_default.py bundles/edge200-w0.5 --command "fer-edge train ...; fer-edge export ..."
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fer_edge.default_model import DEFAULT_BUNDLE, ship_subset
from fer_edge.manifest import read_manifest

LIMIT_BYTES = 8_000_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--command", required=True, help="the commands that made the bundle, for the manifest")
    args = parser.parse_args()
    manifest = read_manifest(args.bundle)
    size = sum(a.bytes for a in manifest.artifacts if a.format == "tflite" and a.precision == "int8")
    if size > LIMIT_BYTES:
        raise SystemExit(f"{args.bundle}: the TFLite int8 models take {size / 1e6:.1f} MB, over the 8 MB limit")
    notes = {"shipped_from": args.bundle.name, "made_by": args.command}
    ship_subset(args.bundle, DEFAULT_BUNDLE, "tflite", "int8", notes)
    print(f"{DEFAULT_BUNDLE}: {size / 1e6:.2f} MB, held-out {manifest.heldout_metrics['keras_accuracy']:.1%} (Keras)")


if __name__ == "__main__":
    main()
