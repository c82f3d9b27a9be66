"""How many ids the runtime gives each real face on a clip: the runtime (`fer_edge.run.steps`, the shipped model,
BlazeFace) over every frame, per frame the faces found and their ids, then "ids per real face" (distinct ids divided
by the faces truly in the clip; 1.0 is perfect, the issue's target is at most 1.1).

    python benchmarks/demo_clip.py reports/demo_3faces.avi
    python benchmarks/ids.py reports/demo_3faces.avi --demo --quiet   # --demo: the clip is demo_clip.py's
    python benchmarks/ids.py reports/demo_3faces.avi --demo --quiet --lost-after 5

With --demo each id is also matched to the demo clip's true face boxes (IoU 0.3): per real face, the frames it was
found in and the ids it got. `--demo --detectors` runs BlazeFace alone instead, on the frame in gray and in colour,
whole and as two squares (docs/detectors.md, "Faces lost in gray").

No timing: this counts, so it may run beside other work.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from fer_edge.boxes import iou


def count_ids(
    source: Path, faces: int, lost_after: int | None, detector: str, verbose: bool, truth: Callable | None = None
) -> dict:
    """truth: frame index -> the true boxes (x, y, w, h) of that frame, or None."""
    from fer_edge.default_model import DEFAULT_BUNDLE
    from fer_edge.run import RunConfig, steps

    options = {"lost_after": lost_after} if lost_after is not None else {}
    config = RunConfig(source=str(source), bundle=str(DEFAULT_BUNDLE), detector=detector, threads=1, **options)
    frames, found = 0, Counter()  # found: frames per number of faces
    frames_of = Counter()  # id -> frames it was seen in
    per_face = {n: {"frames": 0, "ids": set()} for n in range(faces)} if truth else {}
    for step in steps(config):
        boxes = {face.face: face.box for face in step.faces if face.box is not None}
        ids = [i for i in boxes if i is not None]
        if truth:
            for n, real in enumerate(truth(step.frame.index)):
                near = [i for i in ids if iou(boxes[i], real) >= 0.3]
                per_face[n]["frames"] += bool(near)
                per_face[n]["ids"].update(near)
        frames += 1
        found[len(ids)] += 1
        frames_of.update(ids)
        if verbose:
            print(f"frame {step.frame.index:4d}  faces {len(ids)}  ids {' '.join(map(str, sorted(ids)))}")
    return {
        "frames": frames,
        "faces_per_frame": dict(sorted(found.items())),
        "ids": dict(sorted(frames_of.items())),
        "ids_per_face": len(frames_of) / faces,
        "lost_after": config.lost_after,
        "per_face": {n: {"frames": v["frames"], "ids": sorted(v["ids"])} for n, v in per_face.items()},
    }


def detector_table(source: Path, truth: Callable) -> None:
    """BlazeFace alone over the clip, the frame given in gray or in colour, whole or as two squares: per real face,
    the frames in which a box overlaps it (IoU 0.3), and boxes that overlap none."""
    import cv2

    from fer_edge.blazeface import BlazeFace
    from fer_edge.sources import SourceStats, open_source

    for tiles in (False, True):
        detector = BlazeFace(threads=1, tiles=tiles)
        for color in (False, True):
            found, false, frames = Counter(), 0, 0
            for frame in open_source(str(source), SourceStats()):
                image = frame.image if color else cv2.cvtColor(frame.image, cv2.COLOR_BGR2GRAY)
                boxes = [d.box for d in detector.detect(image)]
                real = truth(frame.index)
                for n, box in enumerate(real):
                    found[n] += any(iou(b, box) >= 0.3 for b in boxes)
                false += sum(all(iou(b, box) < 0.3 for box in real) for b in boxes)
                frames += 1
            name = f"{'colour' if color else 'gray'}, {'two squares' if tiles else 'whole frame'}"
            print(f"{name:26s} found per real face {[found[n] for n in range(len(real))]} of {frames}, false {false}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="A video (benchmarks/demo_clip.py makes one).")
    parser.add_argument("--faces", type=int, default=3, help="Faces truly in the clip (the demo clip has 3).")
    parser.add_argument("--lost-after", type=int, help="Detections without a face before its id ends (runtime's).")
    parser.add_argument("--detector", default="blazeface")
    parser.add_argument("--quiet", action="store_true", help="The summary only, not a line per frame.")
    parser.add_argument("--demo", action="store_true", help="The clip is demo_clip.py's: match ids to its faces.")
    parser.add_argument("--speed", type=float, default=1.0, help="With --demo: the clip's --speed.")
    parser.add_argument(
        "--detectors", action="store_true", help="With --demo: BlazeFace alone, gray or colour, whole or two squares."
    )
    args = parser.parse_args(argv)
    if not args.source.is_file():
        raise SystemExit(f"{args.source} does not exist; make it with benchmarks/demo_clip.py")
    truth = None
    if args.demo:
        sys.path.insert(0, str(Path(__file__).parent))
        from demo_clip import PATHS, faces

        truth, args.faces = functools.partial(faces, speed=args.speed), len(PATHS)
        if args.detectors:
            detector_table(args.source, truth)
            return
    result = count_ids(args.source, args.faces, args.lost_after, args.detector, not args.quiet, truth)
    for n, face in result["per_face"].items():
        print(f"real face {n + 1}: found in {face['frames']}/{result['frames']} frames, ids {face['ids']}")
    share = {n: f"{count}" for n, count in result["faces_per_frame"].items()}
    print(
        f"{result['frames']} frames; frames by faces found {share}; ids (frames each) {result['ids']}; "
        f"lost_after {result['lost_after']}; ids per real face {result['ids_per_face']:.2f} "
        f"({len(result['ids'])} ids / {args.faces} faces)"
    )


if __name__ == "__main__":
    main()
