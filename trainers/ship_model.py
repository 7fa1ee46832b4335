"""Package a trained PaletteNet or DitherNet: evaluate it on held-out images, copy it without
optimizer state into ``gif_pipeline/weights/``, and write its model card.

    trainers/ship_model --kind=palette --run=runs/palette_np16 --val=../shared/data/val
    trainers/ship_model --kind=palette --run=runs/palette_np16 --eval_only   # numbers only

The run folder is a trainer's ``--model_dir``: its ``config.json`` gives the model config, the
flags (the card's reproduce command) and the loss history. The weights come from the finished
model (``palette_net.keras`` / ``dither_net.keras``) or, while a PaletteNet run is still going,
from its ``best.weights.h5``. The card's numbers are measured through ``gifnets encode``'s own code path
(:func:`gif_pipeline.encode.encode_image`), against the classical modes, on every image of ``--val``.
"""
from __future__ import annotations

import datetime
import json
import os
import shutil
import sys
import tempfile
import time

from absl import app, flags, logging

FLAGS = flags.FLAGS
flags.DEFINE_enum("kind", "palette", ["palette", "dither"], "Which network the run trained.")
flags.DEFINE_string("run", None, "The trainer's --model_dir.", required=True)
flags.DEFINE_string("val", "../shared/data/val", "Held-out image folder for the model card's numbers.")
flags.DEFINE_integer("max_images", 0, "Use at most this many --val images (0: all).")
flags.DEFINE_string("dest", None, "Weights folder (default: the package's gif_pipeline/weights).")
flags.DEFINE_bool("eval_only", False, "Print the numbers; write nothing.")
flags.DEFINE_bool("force", False, "Replace shipped weights of the same name.")

RUN_FILES = {"palette": "palette_net.keras", "dither": "dither_net.keras"}
COMPARE = {
    # kind: [(palette, dither)] measured for the card, the shipped network's modes first
    "palette": [("net", "none"), ("net+kmeans", "none"), ("median-cut", "none"), ("kmeans", "none")],
    "dither": [("kmeans", "net"), ("kmeans", "fs"), ("kmeans", "none"), ("median-cut", "net"),
               ("median-cut", "fs")],
}


def load_run_model(kind: str, run: str):
    """The run's model (finished ``.keras``, else config.json's config + ``best.weights.h5``) and its record."""
    import keras

    from gif_pipeline.models import dither_net, palette_net  # noqa: F401  (registration)

    config_path = os.path.join(run, "config.json")
    if not os.path.isfile(config_path):
        raise app.UsageError(f"{run} has no config.json: is it a trainer's --model_dir?")
    with open(config_path) as f:
        record = json.load(f)
    finished = os.path.join(run, RUN_FILES[kind])
    if os.path.isfile(finished):
        return keras.saving.load_model(finished, compile=False), record, finished
    # Only stage 1 checkpoints the shipped network itself; stages 2-3 checkpoint the whole encoder.
    best = os.path.join(run, "best.weights.h5")
    if kind != "palette" or not os.path.isfile(best):
        raise app.UsageError(f"{run} has no {RUN_FILES[kind]}" + (" nor best.weights.h5" if kind == "palette" else
                                                                   ": let the run finish"))
    model = palette_net.PaletteNet(record["model"])
    model.load_weights(best)
    return model, record, best


def _list_images(folder: str, limit: int) -> list[str]:
    from gif_pipeline import data

    files = data.list_image_files([folder])
    if not files:
        raise app.UsageError(f"no images in {folder}")
    return files[:limit] if limit else files


def evaluate(kind: str, np_colors: int, weights_dir: str, images: list[str]) -> list[dict]:
    """Mean PSNR/SSIM/ms per mode over ``images``, with ``weights_dir`` as the shipped weights."""
    import numpy as np

    from gif_pipeline import encode, image_io, metrics

    os.environ["GIFNETS_WEIGHTS"] = weights_dir
    encode.clear_model_cache()
    pictures = [image_io.load_image(path).rgb for path in images]
    rows = []
    for palette, dither in COMPARE[kind]:
        psnrs, ssims, times, sizes = [], [], [], []
        for i, rgb in enumerate(pictures):
            if i == 0:  # compile and warm up outside the timing
                encode.encode_image(rgb, np_colors, palette, dither)
            result = encode.encode_image(rgb, np_colors, palette, dither)
            psnrs.append(metrics.psnr(rgb, result.rgb))
            ssims.append(metrics.ssim(rgb, result.rgb))
            times.append(result.seconds * 1000)
            sizes.append(len(result.gif_bytes))
        rows.append({"palette": palette, "dither": dither, "psnr": float(np.mean(psnrs)),
                     "ssim": float(np.mean(ssims)), "ms": float(np.median(times)), "bytes": float(np.mean(sizes))})
        logging.info("%s/%s: %.2f dB", palette, dither, rows[-1]["psnr"])
    return rows


def reproduce_command(record: dict, kind: str) -> str:
    flags_used = record.get("flags", {})
    skip = {"model_dir", "resume", "logical_cpus", "strategy", "tpu", "image_summary_every"}
    parts = [f"trainers/train_{kind}"]
    for name, value in sorted(flags_used.items()):
        if name in skip or value is None:
            continue
        if isinstance(value, bool):
            parts.append(f"--{name}" if value else f"--no{name}")
        elif isinstance(value, list):
            parts.extend(f"--{name}={v}" for v in value)
        else:
            parts.append(f"--{name}={value}")
    return " ".join(parts)


def model_card(kind: str, name: str, model, record: dict, rows: list[dict], n_images: int, val: str,
               size_mb: float) -> str:
    history = record.get("history", {})
    val_losses = history.get("val_loss", [])
    title = {"palette": "PaletteNet", "dither": "DitherNet"}[kind]
    lines = [f"# {title} (`{name}`)", "",
             f"Written by `trainers/ship_model` on {datetime.date.today().isoformat()}.", "",
             "## Model",
             f"- Config: `{json.dumps(record.get('model', {}), sort_keys=True)}`",
             f"- {model.count_params():,} parameters; the file is {size_mb:.2f} MB (weights only, no optimizer state).",
             "", "## Training",
             f"- Data: {', '.join(record.get('flags', {}).get('data') or ['the package samples'])} "
             "(validation during training: the trainer's held-out 20% split by file name).",
             f"- Epochs run: {record.get('epochs_run')}; steps: {record.get('flags', {}).get('steps')}; "
             f"batch {record.get('flags', {}).get('batch_size')}.",
             f"- Best validation loss {min(val_losses):.5f} (epoch {val_losses.index(min(val_losses)) + 1}); "
             "the shipped weights are that epoch's." if val_losses else "- No validation history recorded.",
             *([f"- Note: {record['note']}."] if record.get("note") else []),
             "- Reproduce (then `trainers/ship_model --kind=" + kind + " --run=MODEL_DIR`):", "", "```",
             reproduce_command(record, kind), "```", "",
             f"## Held-out numbers ({n_images} images of `{val}`, through `gifnets encode`'s code path)", "",
             "| palette | dither | PSNR dB | SSIM | GIF bytes | ms/image (median) |", "|---|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['palette']} | {r['dither']} | {r['psnr']:.2f} | {r['ssim']:.4f} | {r['bytes']:,.0f} | {r['ms']:.1f} |")
    lines += ["", "Times are wall-clock on a shared 2-core CPU: compare them within this table only.", ""]
    return "\n".join(lines)


def main(argv):
    del argv
    from gif_pipeline import pretrained

    model, record, source = load_run_model(FLAGS.kind, FLAGS.run)
    np_colors = int(record["model"]["num_colors"]) if FLAGS.kind == "palette" else int(record["flags"]["np"])
    name = pretrained.KINDS[FLAGS.kind][0].format(np=np_colors)
    dest = FLAGS.dest or pretrained.weights_dir()
    final = os.path.join(dest, name)
    if os.path.exists(final) and not FLAGS.force and not FLAGS.eval_only:
        raise app.UsageError(f"{final} exists; pass --force to replace it")
    images = _list_images(FLAGS.val, FLAGS.max_images)
    with tempfile.TemporaryDirectory() as tmp:
        # The candidate goes into a scratch weights folder, beside the other shipped networks.
        for other in os.listdir(pretrained.weights_dir()) if os.path.isdir(pretrained.weights_dir()) else []:
            if other.endswith(".keras") and other != name:
                os.symlink(os.path.join(os.path.abspath(pretrained.weights_dir()), other), os.path.join(tmp, other))
        candidate = os.path.join(tmp, name)
        model.save(candidate)  # loaded with compile=False or built fresh: no optimizer state
        size_mb = os.path.getsize(candidate) / 2**20
        logging.info("Evaluating %s (%.2f MB, from %s) on %d images of %s", name, size_mb, source, len(images),
                     FLAGS.val)
        start = time.time()
        rows = evaluate(FLAGS.kind, np_colors, tmp, images)
        logging.info("Evaluation took %.0f s", time.time() - start)
        card = model_card(FLAGS.kind, name, model, record, rows, len(images), FLAGS.val, size_mb)
        print(card)
        if FLAGS.eval_only:
            return
        os.makedirs(dest, exist_ok=True)
        tmp_final = os.path.join(dest, f".{name}.tmp")
        shutil.copyfile(candidate, tmp_final)
        os.replace(tmp_final, final)
        card_path = os.path.join(dest, name.replace(".keras", ".md"))
        with open(card_path + ".tmp", "w") as f:
            f.write(card)
        os.replace(card_path + ".tmp", card_path)
        print(f"wrote {final} and {card_path}", file=sys.stderr)


if __name__ == "__main__":
    app.run(main)
