"""Ship a trained restore model: copy it into gif_pipeline/weights/, write its model card from the restore bench's
results.csv, and record it in registry.json. Refuses a CCDNet whose bench gain over the input GIF is not positive
(on its own kind of GIF at every encoder and palette size): never ship something worse than doing nothing.

    python -m trainers.ship_restore --kind=ccdnet_plain --run=runs/ccdnet_plain_s2/ccdnet.keras
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sys

import numpy as np

CARD = """# {title}: `{file}`

GIF2Video's CCDNet (Wang et al., CVPR 2019, §4) for `gifnets restore`: {what}. Width multiplier {width}
({channels} channels per U-Net level), residual step 1 = {residual}, CCDNet-1..3 from one file (step-1 U-Net +
shared update U-Net). {params:,} parameters, {mb:.1f} MB.

**Data.** Crops of `../shared/data/train` (the 80 % hash split) quantized on the fly by median cut, k-means, octree,
libimagequant and gifnets' `net+kmeans` at 16–256 colours{dithers}; `trainers/make_gif_pairs`
(docs/experiments/restore.md).

**Reproduce.** `{train}`

**Numbers** (`python benchmarks/restore_bench.py ../shared/data/val --out results/restore`, 24 held-out photos,
routed by the classifier; PSNR gain over the input GIF in dB, mean over photos):

{table}

With the consistency post-step of `gifnets restore` (`gif_pipeline/models/restore/consistency.py`; the bench's
`ccdnet-2-raw` rows are the network alone).

**Limitations.** Trained for a few thousand steps on a shared 2-core CPU at 64-px crops (the paper: 256 px, full
width, a GPU); the gains are far below the paper's. See results/restore/summary.md for every encoder and palette size.
"""


def gains(results: str, dithered: int) -> dict:
    rows = list(csv.DictReader(open(results, encoding="utf-8")))
    out = {}
    for r in rows:
        # what users get: CCDNet-k with the consistency post-step (not the "-raw" network output)
        if int(r["dithered"]) != dithered or not r["method"].startswith("ccdnet") or r["method"].endswith("-raw"):
            continue
        out.setdefault((r["method"], int(r["colors"]), r["encoder"]), []).append(float(r["gain_psnr"]))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kind", required=True, choices=["ccdnet_plain", "ccdnet_dithered", "gif_classifier"])
    p.add_argument("--run", required=True, help="the trained .keras file")
    p.add_argument("--results", default="results/restore/results.csv")
    p.add_argument("--train", default="", help="the reproduce command (default: the kind's trainer)")
    args = p.parse_args(argv)
    import keras

    from gif_pipeline.models.restore import ccdnet, classifier, presets  # noqa: F401 (registers their layers)
    from gif_pipeline.weights import registry

    spec = presets.WEIGHT_KINDS[args.kind]
    folder = registry.weights_dir()
    dst = os.path.join(folder, spec.file)
    model = keras.saving.load_model(args.run, compile=False)
    train = args.train or spec.trainer
    if args.kind == "gif_classifier":
        record = json.load(open(os.path.join(os.path.dirname(args.run), "config.json")))
        acc = record.get("validation_accuracy", {})
        card = (f"# dither classifier: `{spec.file}`\n\nGIF2Video §6.1.1: RGB + gradient maps -> 4 stride-2 conv + BN + "
                f"LeakyReLU(0.2) -> global pooling -> P(dithered). Routes `gifnets restore --model auto` to the plain or "
                f"the dithered CCDNet. {model.count_params():,} parameters.\n\n**Reproduce.** `{train}`\n\n"
                f"**Numbers.** Accuracy on the validation crops (64 px, 96 held-out train-split photos): "
                f"{json.dumps(acc)}. Whole-image routing on the val photos: results/restore/summary.md.\n\n"
                "**Limitations.** Far below the issue's 99 % on 64-px crops: at high Np, DitherNet and Floyd–Steinberg "
                "crops of flat regions look plain.\n")
    else:
        dithered = int(args.kind == "ccdnet_dithered")
        g = gains(args.results, dithered)
        if not g:
            raise SystemExit(f"no CCDNet rows in {args.results}")
        worst = min(float(np.mean(v)) for v in g.values())
        if worst <= 0:
            raise SystemExit(f"refusing to ship {args.run}: a mean gain over the input GIF of {worst:+.2f} dB")
        methods = sorted({k[0] for k in g})
        colors = sorted({k[1] for k in g})
        lines = ["| method | " + " | ".join(f"Np={n}" for n in colors) + " |", "|---|" + "---|" * len(colors)]
        for m in methods:
            cells = [f"{np.mean(sum((v for k, v in g.items() if k[0] == m and k[1] == n), [])):+.2f}" for n in colors]
            lines.append(f"| {m} | " + " | ".join(cells) + " |")
        config = ccdnet.config_of(model)
        card = CARD.format(title=spec.title, file=spec.file,
                           what="dithered GIFs (Floyd–Steinberg, Bayer, DitherNet)" if dithered else "GIFs without dithering",
                           width=config.width_multiplier, channels="-".join(map(str, config.level_channels)),
                           residual=config.residual, params=model.count_params(),
                           mb=os.path.getsize(args.run) / 1e6,
                           dithers=", dithered by Floyd–Steinberg, 8x8 Bayer or DitherNet" if dithered else ", no dithering",
                           train=train, table="\n".join(lines))
    shutil.copyfile(args.run, dst)
    stem = os.path.splitext(spec.file)[0]
    with open(os.path.join(folder, stem + ".md"), "w", encoding="utf-8") as f:
        f.write(card)
    registry.record(registry.Entry(f"restore/{stem}", "restore", args.kind, spec.file, card=stem + ".md", train=train,
                                   evaluate="python benchmarks/restore_bench.py ../shared/data/val --out results/restore"))
    print(f"shipped {dst}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
