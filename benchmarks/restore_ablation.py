"""GIF2Video's Table 1 as ablation rows: CCDNet variants (any .keras files) on held-out photos made into GIFs by
the restore bench's encoders, the network alone (as the paper reports it) and with `gifnets restore`'s post-step.

    python benchmarks/restore_ablation.py ../shared/data/val --kind plain --colors 32 \
        --model "CCDNet-1 (shipped)=gif_pipeline/weights/ccdnet_plain.keras:1" \
        --model "CCDNet-1, no gradient loss=runs/l1_plain_g0/ccdnet.keras:1" --out results/restore/table1.md

Each ``--model`` is ``label=path[:steps]`` (steps 1-3, default the file's own). Prints a markdown table (mean PSNR dB
/ SSIM over every photo x encoder, and the mean gain over the input GIF) and writes it to ``--out`` if given.
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def parse_model(spec: str):
    if "=" not in spec:
        raise argparse.ArgumentTypeError(f"--model {spec!r}: expected label=path[:steps]")
    label, rest = spec.split("=", 1)
    path, steps = rest, None
    if rest.rsplit(":", 1)[-1] in ("1", "2", "3"):
        path, steps = rest.rsplit(":", 1)[0], int(rest.rsplit(":", 1)[1])
    return label.strip(), path, steps


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("images", help="folder of held-out photos (searched recursively)")
    p.add_argument("--model", action="append", type=parse_model, required=True, help="label=path[:steps]")
    p.add_argument("--kind", choices=("plain", "dithered"), default="plain", help="GIFs without or with dithering")
    p.add_argument("--colors", type=int, default=32)
    p.add_argument("--encoders", default=None, help="comma-separated (default: every encoder of the restore bench)")
    p.add_argument("--limit", type=int, default=0, help="first N photos only")
    p.add_argument("--out", default=None, help="markdown file to write")
    args = p.parse_args(argv)

    import keras

    from gif_pipeline.eval import restore as bench
    from gif_pipeline.io.files import atomic_write
    from gif_pipeline.metrics import image as metrics
    from gif_pipeline.models.restore import ccdnet, consistency
    from gif_pipeline.restore import image_palette

    encoders = args.encoders.split(",") if args.encoders else list(bench.ENCODERS)
    unknown = sorted(set(encoders) - set(bench.ENCODERS))
    if unknown:
        p.error(f"unknown encoders {unknown}; choose from {sorted(bench.ENCODERS)}")
    paths = bench._find_images(args.images)[: args.limit or None]
    if not paths:
        p.error(f"no images in {args.images}")
    nets = []
    for label, path, steps in args.model:
        if not os.path.exists(path):
            p.error(f"--model {label}: no such file {path}")
        model = keras.saving.load_model(path, compile=False)
        step1, update = ccdnet.parts(model)
        k = steps or ccdnet.config_of(model).steps
        if k > 1 and update is None:
            p.error(f"--model {label}: {path} has one step only")
        nets.append((label, ccdnet.compose(step1, update, k)))
    dithered = args.kind == "dithered"
    rows = {"input GIF": []}
    rows.update({label: [] for label, _ in nets})
    rows.update({f"{label}, with the post-step": [] for label, _ in nets})
    start = time.time()
    for i, path in enumerate(paths):
        rgb = bench._load(path)
        for enc in encoders:
            gif = bench.quantize(enc, dithered, rgb, args.colors)
            palette, _ = image_palette(gif)
            rows["input GIF"].append((metrics.psnr(rgb, gif), metrics.ssim(rgb, gif)))
            for label, net in nets:
                raw = bench.network_output(net, gif, palette)
                for key, image in ((label, raw), (f"{label}, with the post-step",
                                                  consistency.make_consistent(raw, gif, palette, args.kind))):
                    image = np.clip(np.rint(image), 0, 255).astype(np.uint8)
                    rows[key].append((metrics.psnr(rgb, image), metrics.ssim(rgb, image)))
        print(f"{i + 1}/{len(paths)} photos, {time.time() - start:.0f} s", file=sys.stderr, flush=True)
    base = np.array(rows["input GIF"])
    kind_text = "each encoder's own dither" if dithered else "no dithering"
    lines = [f"{len(paths)} photos x {len(encoders)} encoders ({', '.join(encoders)}), {args.colors} colours, "
             f"{kind_text}; mean over the {len(base)} GIFs.", "",
             "| method | PSNR dB / SSIM | gain over the GIF dB |", "|---|---|---:|"]
    for key, values in rows.items():
        v = np.array(values)
        gain = "" if key == "input GIF" else f"{np.mean(v[:, 0] - base[:, 0]):+.2f}"
        lines.append(f"| {key} | {v[:, 0].mean():.2f} / {v[:, 1].mean():.3f} | {gain} |")
    table = "\n".join(lines)
    print(table)
    if args.out:
        atomic_write(args.out, (table + "\n").encode(), force=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
