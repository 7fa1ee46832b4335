"""Links the training photos with the most slow gradients into extra data folders, so that a DitherNet run sees them
more often (``--data=../shared/data/train --data=OUT/dup1 --data=OUT/dup2``: those photos three times).

    python trainers/pick_gradient_photos.py --data ../shared/data/train --out runs/grad_photos --count 60 --copies 2

Each photo is resized as ``train_dither`` sees it (short side 128) and scored by the fraction of its 16 x 16 blocks
that are slow gradients: luma range 3-40 codes over the block and a mean step between neighbours below 1.2 codes.
The ``count`` best are linked (symlinks, same relative paths and file names, so the trainer's train/val split by
file name puts every copy on the same side) into ``OUT/dup1`` ... ``OUT/dup<copies>``. Nothing is overwritten.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np
from PIL import Image

EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp")


def gradient_fraction(path: str, short_side: int = 128, block: int = 16) -> float:
    """Fraction of the image's ``block`` x ``block`` blocks that are slow gradients (see the module docstring)."""
    im = Image.open(path).convert("RGB")
    w, h = im.size
    s = short_side / min(w, h)
    im = im.resize((max(short_side, round(w * s)), max(short_side, round(h * s))), Image.BILINEAR)
    y = np.asarray(im, np.float64) @ np.array([0.299, 0.587, 0.114])
    hh, ww = (y.shape[0] // block) * block, (y.shape[1] // block) * block
    b = y[:hh, :ww].reshape(hh // block, block, ww // block, block).transpose(0, 2, 1, 3)
    luma_range = b.max((2, 3)) - b.min((2, 3))
    step = (np.abs(np.diff(b, axis=3)).mean((2, 3)) + np.abs(np.diff(b, axis=2)).mean((2, 3))) / 2
    return float(((luma_range >= 3) & (luma_range <= 40) & (step < 1.2)).mean())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="../shared/data/train", help="photo folder (recursive)")
    p.add_argument("--out", required=True, help="folder for dup1 ... dup<copies>")
    p.add_argument("--count", type=int, default=60, help="how many photos to link")
    p.add_argument("--copies", type=int, default=2, help="how many extra copies of each")
    args = p.parse_args(argv)
    files = sorted(os.path.join(d, f) for d, _, fs in os.walk(args.data) for f in fs if f.lower().endswith(EXTENSIONS))
    if not files:
        print(f"pick_gradient_photos: error: no images under {args.data}", file=sys.stderr)
        return 2
    scores = []
    for f in files:
        try:
            scores.append((gradient_fraction(f), f))
        except OSError as e:
            print(f"pick_gradient_photos: error: {f}: {e}", file=sys.stderr)
    scores.sort(reverse=True)  # ties: the later path first
    chosen = scores[:args.count]
    for n in range(1, args.copies + 1):
        for _, f in chosen:
            dst = os.path.join(args.out, f"dup{n}", os.path.relpath(f, args.data))
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            if not os.path.lexists(dst):
                os.symlink(os.path.abspath(f), dst)
    print(f"linked {len(chosen)} of {len(files)} photos x {args.copies} into {args.out} "
          f"(gradient fraction {chosen[-1][0]:.3f} - {chosen[0][0]:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
