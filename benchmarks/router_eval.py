"""Whole-GIF routing of `gifnets restore --model auto`: the numpy dither router vs the CNN classifier.

    python benchmarks/router_eval.py --prepared 'runs/restore_bench2/prepared_*.npz' [--router FILE] [--no-cnn]
    python benchmarks/router_eval.py --speed-only

Reads the restore bench's prepared GIFs (``benchmarks/restore_bench.py --phase prepare``: 24 val photos x 5 encoders
x Np x plain / dithered; keys ``[name, encoder, n, dithered]``) and prints, per encoder x Np x plain / dithered, the
share of GIFs each router sends to the CCDNet of the GIF's own kind, then the totals; then the time per 512x512
frame of each (features + model for the router; the CNN on its backend), in one run, the load average beside it.
``--csv`` writes every GIF's probabilities (the input of the PSNR-cost estimate in docs/experiments/restore.md).
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _prepared(pattern: str):
    gifs, keys = [], []
    for path in sorted(glob.glob(pattern)):
        with np.load(path) as z:
            gifs += list(z["gifs"])
            keys += [tuple(json.loads(k)) for k in z["keys"]]
    if not gifs:
        raise SystemExit(f"no prepared GIFs match {pattern}")
    return gifs, keys


def _cnn(backend: str):
    from gif_pipeline import restore

    return lambda g: restore.classify(g, backend=backend, router="cnn")


def _hopper_gif(size: int = 512, dither: bool = True) -> np.ndarray:
    from PIL import Image

    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "gif_pipeline", "samples",
                        "hopper.jpg")
    im = Image.open(path).convert("RGB").resize((size, size), Image.LANCZOS)
    q = im.quantize(32, method=Image.Quantize.MEDIANCUT,
                    dither=Image.Dither.FLOYDSTEINBERG if dither else Image.Dither.NONE)
    return np.asarray(q.convert("RGB"))


def speed(functions: dict, repeats: int = 5, rounds: int = 3) -> dict:
    frame = _hopper_gif()
    for f in functions.values():
        f(frame)  # warm-up (loading, tracing)
    times = {name: [] for name in functions}
    for _ in range(rounds):
        for name, f in functions.items():
            for _ in range(repeats):
                t = time.perf_counter()
                f(frame)
                times[name].append(time.perf_counter() - t)
    return {name: statistics.median(v) for name, v in times.items()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--prepared", default="runs/restore_bench2/prepared_*.npz")
    p.add_argument("--router", default=None, help="a dither_router.json (default: the registry's)")
    p.add_argument("--no-cnn", action="store_true", help="the router only")
    p.add_argument("--cnn-backend", default="auto", help="backend of the CNN classifier (auto, litert, tf)")
    p.add_argument("--speed-only", action="store_true")
    p.add_argument("--csv", default=None, help="write every GIF's probabilities here")
    args = p.parse_args(argv)
    from gif_pipeline.models.restore import router

    net = router.load(args.router)
    methods = {"router": net.probability}
    if not args.no_cnn:
        methods["cnn"] = _cnn(args.cnn_backend)
    if not args.speed_only:
        gifs, keys = _prepared(args.prepared)
        probs = {m: np.array([f(g) for g in gifs]) for m, f in methods.items()}
        truth = np.array([k[3] for k in keys]) == 1
        right = {m: (p >= 0.5) == truth for m, p in probs.items()}
        encoders = sorted({k[1] for k in keys})
        colors = sorted({k[2] for k in keys})
        names = list(methods)
        print(f"Whole-GIF routing on {len(gifs)} prepared GIFs ({args.prepared}): share sent to the CCDNet of the GIF's"
              " own kind, " + " / ".join(names))
        print()
        print("| encoder | dither | " + " | ".join(f"Np={n}" for n in colors) + " | all |")
        print("|---|---|" + "---|" * (len(colors) + 1))
        for e in encoders:
            for d in (0, 1):
                cells = []
                for n in list(colors) + [None]:
                    sel = np.array([k[1] == e and k[3] == d and (n is None or k[2] == n) for k in keys])
                    cells.append(" / ".join(f"{right[m][sel].mean():.2f}" for m in names))
                print(f"| {e} | {'yes' if d else 'no'} | " + " | ".join(cells) + " |")
        print()
        for m in names:
            print(f"{m}: overall {right[m].mean():.4f} ({right[m].sum()}/{len(gifs)}), plain {right[m][~truth].mean():.4f},"
                  f" dithered {right[m][truth].mean():.4f}")
        if args.csv:
            import csv

            with open(args.csv, "w", newline="", encoding="utf-8") as f:
                w = csv.writer(f)
                w.writerow(["image", "encoder", "colors", "dithered"] + [f"p_{m}" for m in names])
                for i, k in enumerate(keys):
                    w.writerow(list(k) + [f"{probs[m][i]:.6f}" for m in names])
    load = " / ".join(f"{v:.2f}" for v in os.getloadavg())
    t = speed(methods)
    print()
    print(f"Time per 512x512 frame (32-colour FS GIF of hopper.jpg; median of 3 rounds x 5 calls; load {load}):")
    for m, s in t.items():
        print(f"  {m}: {1000 * s:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
