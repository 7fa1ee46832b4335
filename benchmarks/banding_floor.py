#!/usr/bin/env python
"""How low can a BandingNet go on this data? The floor of the val MAD against the teacher's targets.

Reads a banding data set made by ``trainers/make_banding_data`` (``--data``, its ``train`` and
``val`` shards) and prints three tables:

1. **The teacher under changes a student cannot see.** For each val example ``x`` and change
   ``T`` (flips, 90-degree rotation, a 1-pixel shift, 4 px of border context, one luma-invisible
   code of noise, a JPEG round trip), the mean ``|target(x) - target(T x)|`` where ``target`` is
   the teacher's score times the example's FS factor. A student that gives ``x`` and ``T x`` the
   same score is off by at least half of that on the pair (``|p-a| + |p-b| >= |a-b|``): the
   "floor" column. The 1-pixel shift compares the two windows ``x[:, :-1]`` and ``x[:, 1:]``
   (and likewise rows); the context row compares ``x`` with ``x`` minus a 4 px border.
2. **Label noise.** Examples whose images are byte-identical but whose targets differ (e.g. a
   palette with at least as many colours as the crop: with and without Floyd-Steinberg give the
   same image, but the FS target is ``--fs_target_factor`` x the other). The best any function
   of the image can do on such a group is the group's median: that MAD, over the whole split.
   Also the MAD of the teacher's own score against the targets (what the FS factor moves).
3. **Baselines and the student.** Constant predictors (train median / mean), a lookup on the
   number of distinct colours in the image (log2 bins, train medians; that is what "predict from
   Np alone" can see), the same with the palette size Np and dither flag from the metadata; with
   ``--model``, that BandingNet's MAD on train and on val (no augmentation) and its Spearman
   correlation with the teacher.

    python benchmarks/banding_floor.py --data runs/banding_data128 [--model gif_pipeline/weights/banding.keras]
"""
from __future__ import annotations

import argparse
import io
import os
import sys
from collections import defaultdict

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=quality, subsampling=0)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def _noise(rgb: np.ndarray, seed: int) -> np.ndarray:
    """+-1 code of noise, the same on R, G and B (so the luma moves by at most one code)."""
    rng = np.random.default_rng(seed)
    d = rng.integers(-1, 2, size=rgb.shape[:2] + (1,))
    return np.clip(rgb.astype(np.int16) + d, 0, 255).astype(np.uint8)


#: name -> (view a, view b) of one image; the teacher should give both the same score.
CHANGES = {
    "flip left-right": lambda x, i: (x, x[:, ::-1]),
    "flip up-down": lambda x, i: (x, x[::-1]),
    "rotate 90 degrees": lambda x, i: (x, np.rot90(x)),
    "1-px shift (columns)": lambda x, i: (x[:, :-1], x[:, 1:]),
    "1-px shift (rows)": lambda x, i: (x[:-1], x[1:]),
    "4 px less border context": lambda x, i: (x, x[4:-4, 4:-4]),
    "+-1 code grey noise": lambda x, i: (x, _noise(x, i)),
    "JPEG q95 round trip": lambda x, i: (x, _jpeg(x, 95)),
}


class NoData(ValueError):
    pass


def load_split(data: str, split: str, max_examples: int | None = None) -> list[dict]:
    from gif_pipeline.data import banding as banding_data

    paths = banding_data.shard_paths(data, split)
    if not paths:
        raise NoData(f"banding_floor: no {split} shards in {data}; run trainers/make_banding_data --out={data}")
    examples = banding_data.read_examples(paths)
    return examples[:max_examples] if max_examples else examples


def factor_of(example: dict, fs_target_factor: float) -> float:
    return fs_target_factor if example["dither"] == "fs" else 1.0


def change_table(examples: list[dict], fs_target_factor: float) -> list[tuple[str, float, float, float]]:
    """Rows ``(change, mean |target a - target b|, floor = half of it, share of pairs that differ)``."""
    from gif_pipeline.metrics.banding import banding_score

    rows = []
    for name, change in CHANGES.items():
        diffs = []
        for i, ex in enumerate(examples):
            a, b = change(ex["image"], i)
            f = factor_of(ex, fs_target_factor)
            diffs.append(abs(f * banding_score(a) - f * banding_score(b)))
        diffs = np.array(diffs)
        rows.append((name, float(diffs.mean()), float(diffs.mean() / 2), float((diffs > 1e-6).mean())))
    return rows


def identical_image_floor(examples: list[dict]) -> dict:
    """MAD of the best function of the image alone where byte-identical images carry different targets."""
    groups = defaultdict(list)
    for ex in examples:
        groups[ex["image"].tobytes()].append(float(ex["label"]))
    total, conflicting, in_conflict = 0.0, 0, 0
    for labels in groups.values():
        labels = np.array(labels)
        err = np.abs(labels - np.median(labels)).sum()
        total += err
        if labels.max() - labels.min() > 1e-6:
            conflicting += 1
            in_conflict += len(labels)
    return {"examples": len(examples), "distinct_images": len(groups), "conflicting_groups": conflicting,
            "examples_in_conflict": in_conflict, "floor_mad": total / len(examples)}


def _lookup(train_keys, train_labels, val_keys, fallback: float) -> np.ndarray:
    table = defaultdict(list)
    for k, y in zip(train_keys, train_labels):
        table[k].append(y)
    medians = {k: float(np.median(v)) for k, v in table.items()}
    return np.array([medians.get(k, fallback) for k in val_keys])


def baseline_table(train: list[dict], val: list[dict]) -> list[tuple[str, float]]:
    """Rows ``(predictor, val MAD)``; every lookup is fitted on ``train`` (medians: the L1 optimum)."""
    yt = np.array([float(e["label"]) for e in train])
    yv = np.array([float(e["label"]) for e in val])
    median = float(np.median(yt))

    from gif_pipeline.eval.peers import count_colors

    def colours_bin(e):
        return int(np.floor(np.log2(count_colors(e["image"]))))

    def np_key(e):
        return int(np.floor(np.log2(e["np"]))) if e["np"] else -1  # -1: the unquantized original

    keys = {
        "distinct colours in the image (log2 bin)": colours_bin,
        "distinct colours (log2 bin) + is it dithered (metadata)": lambda e: (colours_bin(e), e["dither"]),
        "palette size Np (log2 bin, metadata)": np_key,
        "palette size Np (log2 bin) + dither (metadata)": lambda e: (np_key(e), e["dither"]),
    }
    rows = [("constant: train median", float(np.abs(yv - median).mean())),
            ("constant: train mean", float(np.abs(yv - yt.mean()).mean()))]
    for name, key in keys.items():
        pred = _lookup([key(e) for e in train], yt, [key(e) for e in val], median)
        rows.append((name, float(np.abs(yv - pred).mean())))
    return rows


def student_scores(model, examples: list[dict], batch: int = 32) -> np.ndarray:
    x = np.stack([e["image"] for e in examples]).astype(np.float32) / 127.5 - 1.0
    return np.concatenate([np.asarray(model(x[i:i + batch], training=False)).reshape(-1)
                           for i in range(0, len(x), batch)])


def student_table(model, train: list[dict], val: list[dict]) -> list[tuple[str, int, float, float | None]]:
    from scipy.stats import spearmanr

    rows = []
    for name, examples in (("train", train), ("val", val)):
        p = student_scores(model, examples)
        y = np.array([float(e["label"]) for e in examples])
        t = np.array([float(e["teacher_score"]) for e in examples])
        rho = spearmanr(p, t).statistic if len(p) > 2 else None
        rows.append((name, len(p), float(np.abs(p - y).mean()), None if rho is None else float(rho)))
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.path.join("runs", "banding_data"), help="make_banding_data output")
    parser.add_argument("--model", default=None, help="a BandingNet .keras to score on train and val")
    parser.add_argument("--max_examples", type=int, default=None, help="first N examples of each split")
    parser.add_argument("--fs_target_factor", type=float, default=None,
                        help="default: the one in the data set's manifest")
    args = parser.parse_args(argv)

    import json

    manifest_path = os.path.join(args.data, "manifest.json")
    factor = args.fs_target_factor
    if factor is None:
        if not os.path.exists(manifest_path):
            print(f"banding_floor: no manifest.json in {args.data}; pass --fs_target_factor", file=sys.stderr)
            return 2
        with open(manifest_path) as f:
            factor = float(json.load(f)["config"]["fs_target_factor"])
    try:
        train = load_split(args.data, "train", args.max_examples)
        val = load_split(args.data, "val", args.max_examples)
    except NoData as e:
        print(e, file=sys.stderr)
        return 2
    yv = np.array([float(e["label"]) for e in val])
    tv = np.array([float(e["teacher_score"]) for e in val])
    fs = np.array([e["dither"] == "fs" for e in val])

    print(f"# BandingNet floor on {args.data}: {len(train)} train / {len(val)} val examples, "
          f"{val[0]['image'].shape[0]} px, FS target factor {factor}\n")
    print("## 1. The teacher under changes a student cannot see (val)\n")
    print("| change | mean abs target change | floor (half) | pairs that differ |")
    print("|---|---:|---:|---:|")
    for name, mean, floor, share in change_table(val, factor):
        print(f"| {name} | {mean:.4f} | {floor:.4f} | {share:.0%} |")

    ident = identical_image_floor(val)
    print("\n## 2. Label noise (val)\n")
    print("| what | value |")
    print("|---|---:|")
    print(f"| byte-identical images with different targets: groups / examples | "
          f"{ident['conflicting_groups']} / {ident['examples_in_conflict']} of {ident['examples']} |")
    print(f"| floor MAD from them (best function of the image) | {ident['floor_mad']:.4f} |")
    print(f"| MAD of the teacher's own score vs the targets (the FS factor's move) | {np.abs(tv - yv).mean():.4f} |")
    print(f"| share of FS examples / of targets exactly 0 | {fs.mean():.0%} / {(yv == 0).mean():.0%} |")
    print(f"| mean target: no dither / FS | {yv[~fs].mean():.4f} / {yv[fs].mean():.4f} |")

    print("\n## 3. Baselines (fitted on train) and the student (val MAD)\n")
    print("| predictor | val MAD |")
    print("|---|---:|")
    for name, mad in baseline_table(train, val):
        print(f"| {name} | {mad:.4f} |")
    if args.model:
        from gif_pipeline.weights import registry

        model = registry.load("banding", explicit=args.model)
        print(f"\n`{args.model}` (no augmentation):\n")
        print("| split | examples | MAD | Spearman vs teacher |")
        print("|---|---:|---:|---:|")
        for name, n, mad, rho in student_table(model, train, val):
            print(f"| {name} | {n} | {mad:.4f} | {'' if rho is None else f'{rho:.3f}'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
