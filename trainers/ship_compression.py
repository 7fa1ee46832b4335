"""Ship a trained compressor: fit its entropy coder's prior on training photos, measure it on held-out photos
through the same codec users run, and write ``gif_pipeline/weights/compress_{mode}_c{C}.keras``, its model card and
its registry entry.

    python -m trainers.ship_compression --run=runs/compress_gan_c4 --mode=gan --train=../shared/data/train \\
        --val=../shared/data/val

The prior (``Compressor.entropy_prior``) is the count of each symbol per context (channel, left and upper
symbol) over the training photos' codes (each photo's short side resized to 256 px, centre crop): a property of
the trained encoder, so it is fitted after training, on training data only.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
from PIL import Image

from trainers import common


def load_photo(path: str, size: int = 256) -> np.ndarray:
    im = Image.open(path).convert("RGB")
    scale = size / min(im.size)
    im = im.resize((max(size, round(im.width * scale)), max(size, round(im.height * scale))), Image.BICUBIC)
    left, top = (im.width - size) // 2, (im.height - size) // 2
    return np.asarray(im.crop((left, top, left + size, top + size)))


def load_run(run: str):
    """The compressor of a trainer's run: its ``compressor.keras``, or, for a run stopped before it finished, E and G
    of its best validation epoch (``best.weights.h5``, with the architecture from the run's ``config.json``)."""
    import keras

    from gif_pipeline.models.compress import model  # noqa: F401  (registration)

    if not os.path.isdir(run):
        return keras.saving.load_model(run, compile=False)
    path, record, finished = common.run_weights(run, "compressor.keras")
    if finished:
        return keras.saving.load_model(path, compile=False)
    import tensorflow as tf

    from gif_pipeline.models.compress.config import CompressionConfig, LossConfig
    from gif_pipeline.models.compress.training import CompressionTrainer

    compressor = model.Compressor(CompressionConfig.from_dict(record["model"]))
    trainer = CompressionTrainer(compressor, None, LossConfig(mode="mse"))
    trainer(tf.zeros([1, 32, 32, 3]))
    trainer.load_weights(path)  # the optimizer's slots are not needed
    print(f"{run}: no compressor.keras (the run was stopped); E and G from {path}", file=sys.stderr)
    return compressor


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", required=True, help="a trainer's --model_dir (its compressor.keras) or a .keras file")
    p.add_argument("--mode", choices=("gan", "mse"), required=True)
    p.add_argument("--train", default="../shared/data/train", help="photos for the entropy prior")
    p.add_argument("--val", default="../shared/data/val", help="held-out photos for the card's numbers")
    p.add_argument("--prior_images", type=int, default=200)
    p.add_argument("--out", default=None, help="weights folder (default: the package's)")
    p.add_argument("--train_command", default="", help="the command that trained it (for the card and registry)")
    args = p.parse_args(argv)

    from gif_pipeline.data.images import list_image_files, split_files
    from gif_pipeline.io.files import atomic_write
    from gif_pipeline.metrics.image import psnr
    from gif_pipeline.models.compress import codec as gcz
    from gif_pipeline.models.compress import model  # noqa: F401  (registration)
    from gif_pipeline.training.loop import save_model_atomically
    from gif_pipeline.weights import registry

    compressor = load_run(args.run)
    config = compressor.config
    files = split_files(list_image_files([args.train]), "train")[: args.prior_images]
    counts = gcz.fit_prior(compressor, [load_photo(f) for f in files])
    compressor.entropy_prior.assign(counts.astype("float32"))
    out_dir = args.out or registry.weights_dir()
    stem = f"compress_{args.mode}_c{config.channels}"
    target = os.path.join(out_dir, stem + ".keras")
    save_model_atomically(compressor, target)

    codec = gcz.Codec(compressor, gan=args.mode == "gan")
    rows = []
    for f in sorted(list_image_files([args.val])):
        rgb = np.asarray(Image.open(f).convert("RGB"))
        data, stats = codec.compress(rgb)
        out = codec.decompress(data)
        np.testing.assert_array_equal(out, codec.decompress(data))
        rows.append((stats.bpp, stats.bound_bpp, stats.ideal_bpp, float(psnr(rgb, out))))
    bpp, bound, ideal, mean_psnr = (float(np.mean([r[i] for r in rows])) for i in range(4))
    worst = max(r[0] for r in rows)
    size_mb = os.path.getsize(target) / 1e6
    train_cmd = args.train_command or f"trainers/train_compression --preset={args.mode}_c{config.channels}"
    how = ("trained with LSGAN + 10 MSE + 12 feature matching from the MSE baseline, random-box selective compression; "
           "no VGG term (no local weights)") if args.mode == "gan" else \
        "trained on the MSE term alone (weight 10; the paper's MSE baseline)"
    card = f"""# {stem}.keras: {'GAN image codec (GC)' if args.mode == 'gan' else 'MSE baseline'}, C = {config.channels}

Agustsson et al., "Generative Adversarial Networks for Extreme Learned Image Compression" (ICCV 2019), scaled to a
CPU: encoder E and generator G at width multiplier {config.width_multiplier} (paper 1.0), {config.residual_blocks}
residual blocks (paper 9), C = {config.channels} latent channels, L = {config.num_centers} centres, G upsampling by
{"nearest-neighbour resize + 3x3 convolution" if config.upsample == "resize" else "transposed convolutions (the paper)"}{
", a colour shortcut from the code (not in the paper)" if config.colour_shortcut else ""}{
", symmetric padding in G (pix2pixHD's; no frame at the borders)" if config.generator_padding == "symmetric" else ""};
{how}.
{size_mb:.1f} MB. Entropy prior fitted on {len(files)} training photos (train split of --train).

- Serves: `gifnets compress --mode {args.mode} --channels {config.channels}`, `gifnets decompress`.
- Train: `{train_cmd}`; ship: `python -m trainers.ship_compression --run={args.run} --mode={args.mode}`.
- Data: {args.train} (train split), held-out: {args.val}.

## Numbers on {args.val} ({len(rows)} photos, 256x256; files decode bit-exactly twice)

| whole-file bpp (mean) | worst file | bound C log2 5 / 256 | model information (no header) | PSNR dB |
|---|---|---|---|---|
| {bpp:.4f} | {worst:.4f} | {bound:.4f} | {ideal:.4f} | {mean_psnr:.2f} |

## Limitations

A few CPU hours of training at 1/8 of the paper's widths on ~350 photos: the reconstructions are blurry (MSE) or
carry generic synthetic texture (GAN) far from the paper's quality; see results/compress/ for the side-by-side
comparison with JPEG, WebP, AVIF, HEIC and JPEG XL. Selective compression by semantic label maps is not trained
(no label maps here); random boxes only.
"""
    atomic_write(os.path.join(out_dir, stem + ".md"), card.encode(), force=True)
    entry = registry.Entry(f"compress/{stem}", "compress", f"compress_{args.mode}", stem + ".keras", None, stem + ".md",
                           config.channels, (config.channels,), train_cmd,
                           "gifnets bench --task compression ../shared/data/val --out runs/bench_compress")
    registry.record(entry, out_dir)
    print(json.dumps({"file": target, "mb": round(size_mb, 2), "bpp": bpp, "worst_bpp": worst, "bound": bound,
                      "ideal_bpp": ideal, "psnr": mean_psnr}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
