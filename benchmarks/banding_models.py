#!/usr/bin/env python
"""Several BandingNets side by side on one banding data set's val split (and train split), one table.

For each ``--model NAME=PATH``: the MAD against the targets on every example of ``--data``'s val
split (all, without dither, Floyd-Steinberg), the Spearman correlation with the teacher's raw
score (all, without dither), and the MAD on the train split (no augmentation: over/under-fitting).
With ``--images DIR`` (e.g. ``../shared/data/val``) also the Spearman correlation with the teacher
on 256x256 median-cut versions of those images at Np 8-256 with and without FS
(``gif_pipeline.data.banding.scored_photo_set``: ``trainers.train_banding.cambi_set`` without CAMBI), the size
DitherNet's critic sees.

    python benchmarks/banding_models.py --data runs/banding_data128 \
        --model shipped=gif_pipeline/weights/banding.keras --model new=runs/banding_r1/banding_net.keras \
        [--images ../shared/data/val]
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _spearman(a, b):
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic) if len(a) > 2 else float("nan")


def _scores(model, images: np.ndarray, batch: int = 32) -> np.ndarray:
    x = images.astype(np.float32) / 127.5 - 1.0
    return np.concatenate([np.asarray(model(x[i:i + batch], training=False)).reshape(-1)
                           for i in range(0, len(x), batch)])


def _split(data: str, split: str):
    from gif_pipeline.data import banding as banding_data

    paths = banding_data.shard_paths(data, split)
    if not paths:
        raise ValueError(f"banding_models: no {split} shards in {data}")
    ex = banding_data.read_examples(paths)
    return (np.stack([e["image"] for e in ex]), np.array([e["label"] for e in ex], np.float64),
            np.array([e["teacher_score"] for e in ex], np.float64), np.array([e["dither"] == "fs" for e in ex]))


def photo_set(folder: str) -> dict:
    """256x256 median-cut versions (Np 8-256, none/FS) of the images in ``folder`` and their teacher scores."""
    from gif_pipeline.data import banding as banding_data

    return banding_data.scored_photo_set(folder)


def compare(models: dict, data: str, images: str | None = None) -> list[dict]:
    from gif_pipeline.weights import registry

    vx, vy, vt, vfs = _split(data, "val")
    tx, ty, _, _ = _split(data, "train")
    photos = photo_set(images) if images else None
    rows = []
    for name, path in models.items():
        model = registry.load("banding", explicit=path)
        p = _scores(model, vx)
        err = np.abs(p - vy)
        row = {"model": name, "val": len(vy), "mad": float(err.mean()), "mad_none": float(err[~vfs].mean()),
               "mad_fs": float(err[vfs].mean()), "rho": _spearman(p, vt), "rho_none": _spearman(p[~vfs], vt[~vfs]),
               "train_mad": float(np.abs(_scores(model, tx) - ty).mean())}
        if photos is not None:
            q = _scores(model, photos["images"], batch=8)
            fs = photos["fs"]
            row["photo_rho"] = _spearman(q, photos["teacher"])
            row["photo_rho_none"] = _spearman(q[~fs], photos["teacher"][~fs])
        rows.append(row)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.path.join("runs", "banding_data"), help="make_banding_data output")
    parser.add_argument("--model", action="append", required=True, help="NAME=PATH of a BandingNet .keras")
    parser.add_argument("--images", default=None, help="also: Spearman vs teacher on 256 px versions of these")
    args = parser.parse_args(argv)
    models = {}
    for spec in args.model:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            print(f"banding_models: --model wants NAME=PATH, got {spec!r}", file=sys.stderr)
            return 2
        if not os.path.exists(path):
            print(f"banding_models: no such model file {path}", file=sys.stderr)
            return 2
        models[name] = path
    try:
        rows = compare(models, args.data, args.images)
    except ValueError as e:
        print(e, file=sys.stderr)
        return 2
    photo = args.images is not None
    head = "| model | val MAD | no dither / FS | Spearman vs teacher (no dither) | train MAD |"
    sep = "|---|---:|---:|---:|---:|"
    if photo:
        head += " 256 px photos: Spearman vs teacher (no dither) |"
        sep += "---:|"
    print(f"# BandingNets on {args.data}: {rows[0]['val']} val examples\n")
    print(head)
    print(sep)
    for r in rows:
        line = (f"| {r['model']} | {r['mad']:.4f} | {r['mad_none']:.4f} / {r['mad_fs']:.4f} | "
                f"{r['rho']:.3f} ({r['rho_none']:.3f}) | {r['train_mad']:.4f} |")
        if photo:
            line += f" {r['photo_rho']:.3f} ({r['photo_rho_none']:.3f}) |"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
