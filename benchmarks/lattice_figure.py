"""The dot lattice before and after, as a picture: mean error spectra and a zoomed crop per dither (issue 29).

    python benchmarks/lattice_figure.py --out docs/experiments/figures/lattice_np16.png \\
        --dither "DitherNet before (f41e876)=runs/dither_np16_f41e876.keras" \\
        --dither "DitherNet shipped=gif_pipeline/weights/dither_np16.keras"

For every photo of ``--images`` (default ``../shared/data/val``), one ``net+kmeans`` palette of ``--colors``
colours; each ``--dither`` network (TensorFlow), gifnets' ``ed`` and libimagequant's dithering 1 (its own
palette, as in the bench) dither it. Per method the figure shows the mean luma-error power spectrum over the
photos (:func:`gif_pipeline.metrics.lattice.spectrum_image`: DC in the middle, a lattice is a grid of bright dots)
with its lattice score, and a 3x crop of ``--crop-photo``. It prints the scores as a table.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np
from PIL import Image, ImageDraw, ImageFont

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
VAL = os.path.join(os.path.dirname(ROOT), "shared", "data", "val")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", default=VAL, help="folder of photos, searched recursively (default: %(default)s)")
    p.add_argument("--colors", type=int, default=16)
    p.add_argument("--dither", action="append", default=[], help="NAME=PATH of a DitherNet .keras (repeatable)")
    p.add_argument("--crop-photo", default="ukui-wallpapers/00022.png", help="photo (relative to --images) to crop")
    p.add_argument("--crop", default="80,80,96", help="x,y,size of the crop (default: %(default)s)")
    p.add_argument("--out", required=True, help="PNG to write")
    args = p.parse_args(argv)

    from benchmarks.paper_tables import _named_paths
    from gif_pipeline import encode
    from gif_pipeline.eval import peers
    from gif_pipeline.io import files
    from gif_pipeline.layers.common import image_to_unit
    from gif_pipeline.metrics import lattice
    from gif_pipeline.models.gifnets import graph
    from gif_pipeline.quant import dithering
    from gif_pipeline.weights import registry

    nets = {name: registry.load("dither", explicit=path) for name, path in _named_paths(args.dither, "--dither").items()}
    photos = sorted(os.path.join(r, f) for r, _, fs in os.walk(args.images) for f in fs
                    if f.lower().endswith((".png", ".jpg", ".jpeg")))
    if not photos:
        raise SystemExit(f"no photos under {args.images}")
    names = [*nets, "gifnets ed", "libimagequant d1"]
    acc, crops = lattice.LatticeAccumulator(), {}
    x0, y0, size = (int(v) for v in args.crop.split(","))
    crop_path = os.path.join(args.images, args.crop_photo)
    for path in photos:
        rgb = np.asarray(Image.open(path).convert("RGB"))
        pal = encode.PALETTE_STAGES["net+kmeans"](rgb, args.colors)
        unit = pal.astype(np.float32) / 127.5 - 1.0
        outs = {name: pal[np.asarray(graph.dithered_indices(net, image_to_unit(rgb)[None], unit))[0]]
                for name, net in nets.items()}
        outs["gifnets ed"] = pal[dithering.remap(rgb, pal, "ed")]
        outs["libimagequant d1"] = peers.run_peer("libimagequant:d1", rgb, args.colors).rgb
        for name, out in outs.items():
            acc.add(name, rgb, out)
            if os.path.abspath(path) == os.path.abspath(crop_path):
                crops[name] = out[y0:y0 + size, x0:x0 + size]
        if os.path.abspath(path) == os.path.abspath(crop_path):
            crops["original"] = rgb[y0:y0 + size, x0:x0 + size]

    scores = {name: acc.score(name) for name in names}
    print(f"{len(photos)} photos, {args.colors} colours\n\n| method | lattice |\n|---|---:|")
    for name in names:
        print(f"| {name} | {scores[name]:.1f} |")

    # one column per method: spectrum on top, the 3x crop below (the original's column has no spectrum)
    cell, pad, label = 3 * size, 8, 36
    columns = (["original"] if crops else []) + names
    sheet = Image.new("RGB", (len(columns) * (cell + pad) + pad, label + 2 * cell + 2 * pad), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=13)
    for i, name in enumerate(columns):
        x = pad + i * (cell + pad)
        title = name if name == "original" else f"{name}\nlattice {scores[name]:.1f}"
        draw.multiline_text((x, 2), title, fill="black", font=font)
        if name != "original":
            picture = Image.fromarray(lattice.spectrum_image(acc.spectrum(name)))
            sheet.paste(picture.resize((cell, cell), Image.Resampling.NEAREST), (x, label))
        if name in crops:
            sheet.paste(Image.fromarray(crops[name]).resize((cell, cell), Image.Resampling.NEAREST),
                        (x, label + cell + pad))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    files.atomic_write(args.out, _png_bytes(sheet), force=True)
    print(f"\nwrote {args.out}")
    return 0


def _png_bytes(image) -> bytes:
    import io

    buf = io.BytesIO()
    image.save(buf, "PNG", optimize=True)
    return buf.getvalue()


if __name__ == "__main__":
    raise SystemExit(main())
