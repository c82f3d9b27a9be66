#!/usr/bin/env python3
"""How often one FER+ annotator agrees with the other nine: the human yardstick for FER+ accuracy.

    python benchmarks/ferplus_agreement.py --stills ../shared/data/FER2013
    fer-edge eval default --data ../shared/data/FER2013 --labels ferplus --threads 1 --out reports/eval-ferplus
    python benchmarks/ferplus_agreement.py --predictions reports/eval-ferplus/predictions.jsonl

For every vote on a FER2013 `val` face, the other votes of that face are put through FER+'s majority rule; where
they name one of the six classes fer-edge scores (happy, surprise, anger, sadness, fear, neutral), the vote is
right if it names the same. The pooled share is one annotator's accuracy against a crowd of nine, beside which a
model's accuracy against the crowd of ten (`fer-edge eval --labels ferplus`) can be read. With --predictions
(the predictions.jsonl of that eval), both are broken down by how many of the ten votes the winning class got, to
show whether the model's errors sit on the faces the annotators themselves split on.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from fer_edge.dataset import DEFAULT_CLASSES
from fer_edge.ferplus import CLASSES, NO_LABEL, find_votes, majority, read_votes

SIX = (*DEFAULT_CLASSES, "neutral")


def leave_one_out(counts: np.ndarray, classes: tuple[str, ...] = SIX) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N, 10) vote counts -> (votes, crowd, face): each vote's column and the majority of the face's other votes,
    as indices into CLASSES (columns past them, unknown and not-a-face, stay as they are), and the face's row, for
    every vote whose crowd names one of `classes`."""
    wanted = [CLASSES.index(c) for c in classes]
    votes, crowd, face = [], [], []
    for column in range(counts.shape[1]):
        holders = counts[:, column] > 0
        others = counts[holders].copy()
        others[:, column] -= 1
        labels = majority(others)
        scored = np.isin(labels, wanted)
        repeat = counts[holders, column][scored]  # every vote of this column on a face counts once
        votes.append(np.repeat(np.full(scored.sum(), column), repeat))
        crowd.append(np.repeat(labels[scored], repeat))
        face.append(np.repeat(np.flatnonzero(holders)[scored], repeat))
    return np.concatenate(votes), np.concatenate(crowd), np.concatenate(face)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stills", type=Path, default=Path("../shared/data/FER2013"), help="FER2013 with ferplus.csv")
    parser.add_argument("--split", default="val", help="which split's faces (train or val)")
    parser.add_argument("--predictions", type=Path, help="predictions.jsonl of fer-edge eval --labels ferplus --out")
    args = parser.parse_args()

    all_votes = read_votes(find_votes(args.stills))
    rows = [i for i, p in enumerate(all_votes.paths) if p.startswith(f"{args.split}/")]
    counts = all_votes.counts[rows]
    votes, crowd, face = leave_one_out(counts)
    right = votes == crowd
    ten = majority(counts)
    faces = np.isin(ten, [CLASSES.index(c) for c in SIX]).sum()
    print(f"FER+ {args.split}: {len(rows)} faces with votes, {faces} with a 6-class majority of all their votes")
    print(f"one annotator against the other votes' majority: {right.mean():.1%} of {len(votes)} votes")
    recalls = []
    for name in SIX:
        mine = crowd == CLASSES.index(name)
        recalls.append(right[mine].mean())
        print(f"  {name:<9} {right[mine].mean():.1%} of {mine.sum()} votes")
    print(f"  macro recall {np.mean(recalls):.1%}")
    if args.predictions is None:
        return

    winner_votes = counts[:, : len(CLASSES)].max(axis=1)
    predicted = read_predictions(args.predictions)
    index = {all_votes.paths[row].split("/", 1)[1]: i for i, row in enumerate(rows)}  # the id eval writes
    model_face, model_right, backing = [], [], []
    for key, (label, guess) in predicted.items():
        i = index.get(key)
        if i is not None and ten[i] != NO_LABEL and label in SIX:
            model_face.append(i)
            model_right.append(guess == label)
            if guess != label:  # how many annotators chose what the model said
                backing.append(counts[i, CLASSES.index(guess)] if guess in CLASSES else 0)
    model_face, model_right, backing = np.array(model_face), np.array(model_right), np.array(backing)
    print(f"\nthe model ({args.predictions}): {model_right.mean():.1%} of {len(model_right)} faces")
    print(
        f"its {len(backing)} errors name a class that at least 1, 2, 3 of the ten annotators chose: "
        + ", ".join(f"{(backing >= n).mean():.1%}" for n in (1, 2, 3))
    )
    print("votes for the winning class | faces | the model right | its errors | one annotator against the other nine")
    for low, high in ((9, 10), (7, 8), (6, 6), (0, 5)):
        faces_in = (winner_votes[model_face] >= low) & (winner_votes[model_face] <= high)
        votes_in = (winner_votes[face] >= low) & (winner_votes[face] <= high)
        wrong = (~model_right[faces_in]).sum()
        shares = f"{model_right[faces_in].mean():.1%} | {wrong} | {right[votes_in].mean():.1%}"
        print(f"{low}-{high} of 10 | {faces_in.sum()} | {shares}")


def read_predictions(path: Path) -> dict[str, tuple[str, str]]:
    """predictions.jsonl of `fer-edge eval --out`: id (the path inside the split) -> (label, predicted)."""
    with open(path, encoding="utf-8") as lines:
        records = [json.loads(line) for line in lines if line.strip()]
    return {r["id"]: (r["label"], r["predicted"]) for r in records}


if __name__ == "__main__":
    main()
