"""Package a trained PaletteNet or DitherNet: evaluate it on held-out images, copy it without
optimizer state into ``gif_pipeline/weights/``, and write its model card.

    trainers/ship_model --kind=palette --run=runs/palette_np16 --val=../shared/data/val
    trainers/ship_model --kind=palette --run=runs/palette_np16 --eval_only   # numbers only

The run folder is a trainer's ``--model_dir``: its ``config.json`` gives the model config, the
flags (the card's reproduce command) and the loss history. The weights come from the finished
model (``palette_net.keras`` / ``dither_net.keras``) or, while a run is still going, from its
``best.weights.h5`` (for a DitherNet: the stage-2 encoder's, rebuilt from ``config.json``). The card's
numbers are measured through ``gifnets encode``'s own code path (:func:`gif_pipeline.encode.encode_image`),
against the classical modes, on every image of ``--val``.
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

from gif_pipeline.weights import registry  # noqa: E402  (no TensorFlow: the registry reads files only)
from trainers import common  # noqa: E402

#: The kinds of weight file this script ships: those whose family says how to measure them.
SHIPPABLE = {kind: spec for kind, (_, spec) in registry.KINDS.items() if spec.compare}

FLAGS = flags.FLAGS
flags.DEFINE_enum("kind", "palette", sorted(SHIPPABLE), "Which network the run trained.")
flags.DEFINE_string("run", None, "The trainer's --model_dir.", required=True)
flags.DEFINE_string("val", "../shared/data/val", "Held-out image folder for the model card's numbers.")
flags.DEFINE_integer("max_images", 0, "Use at most this many --val images (0: all).")
flags.DEFINE_string("dest", None, "Weights folder (default: the package's gif_pipeline/weights).")
flags.DEFINE_bool("eval_only", False, "Print the numbers; write nothing.")
flags.DEFINE_bool("force", False, "Replace shipped weights of the same name.")
flags.DEFINE_list("add_heads", [], "Palette runs trained with --freeze_backbone --init_from the --run network: "
                  "their slot heads join it as extra heads (PaletteNetConfig.head_sizes), so one file serves every "
                  "size. --run may then be a .keras file (e.g. the shipped one; its card's training section is kept).")
flags.DEFINE_list("colors", [], "Palette sizes to measure (default: a nested PaletteNet's prefix sizes, else its Np).")

MULTI_FLAGS = {"data"}  # the trainers' DEFINE_multi_* flags (given once per value)


def load_run_model(kind: str, run: str):
    """The run's model (finished ``.keras``, else config.json's config + ``best.weights.h5``) and its record."""
    import keras

    from gif_pipeline.models.gifnets import (
        dither_net,  # noqa: F401  (registration)
        palette_net,
    )

    if not os.path.isfile(os.path.join(run, "config.json")):
        raise app.UsageError(f"{run} has no config.json: is it a trainer's --model_dir?")
    path, record, finished = common.run_weights(run, SHIPPABLE[kind].run_file)
    if finished:
        return keras.saving.load_model(path, compile=False), record, path
    if kind == "palette":
        model = palette_net.PaletteNet(record["model"])
        model.load_weights(path)
    else:
        model = _dither_net_from_encoder_checkpoint(record, path)
    return model, record, path


def load_base_model(run: str):
    """``--run`` as :func:`load_run_model`, or a ``.keras`` PaletteNet file with the card beside it (its
    record's ``card_training`` keeps the card's training section)."""
    if not run.endswith(".keras"):
        return load_run_model("palette", run)
    from gif_pipeline.weights import registry

    if not os.path.isfile(run):
        raise app.UsageError(f"no PaletteNet file {run}")
    model = registry.load("palette", explicit=run)
    record = {"model": model.config.to_dict()}
    card = run[:-len(".keras")] + ".md"
    if os.path.isfile(card):
        with open(card) as f:
            text = f.read()
        for key, title in (("card_training", "## Training"), ("card_heads", "## Extra slot heads")):
            start = text.find(title)
            if start < 0:
                continue
            end = text.find("\n## ", start + 1)
            body = text[start:end if end >= 0 else None].partition("\n")[2]  # the section without its title
            if key == "card_heads":  # its list of heads, without the paragraph that introduces them
                body = body[body.find("- **"):] if "- **" in body else ""
            record[key] = body.strip()
    return model, record, run


def join_heads(base, runs: list[str]):
    """A PaletteNet with ``base``'s backbone and head plus the slot head of each palette run in ``runs``
    (trained with ``--freeze_backbone`` from ``base``: their backbones must equal its own). Returns the
    network and ``[(Np, run, record)]``."""
    import numpy as np

    from gif_pipeline.models.gifnets.palette_net import PaletteNet

    if base.config.head != "slots" or base.config.nested_sizes:
        raise app.UsageError("--add_heads needs a slot-head PaletteNet without nested sizes as --run")
    heads = {}
    for run in runs:
        model, record, _ = load_run_model("palette", run)
        n = model.num_colors
        if model.config.head != "slots" or model.config.nested_sizes:
            raise app.UsageError(f"{run}: not a slot-head PaletteNet without nested sizes")
        if model.config.refine_rounds != base.config.refine_rounds:
            raise app.UsageError(f"{run}: refine_rounds={model.config.refine_rounds}, but --run's network has "
                                 f"{base.config.refine_rounds}: every head of one file refines alike")
        if n in base.served_colors or n in heads:
            raise app.UsageError(f"{run}: a head for {n} colours is there already")
        ours, theirs = model.backbone.get_weights(), base.backbone.get_weights()
        if len(ours) != len(theirs) or not all(np.array_equal(a, b) for a, b in zip(ours, theirs)):
            raise app.UsageError(f"{run}: its backbone differs from --run's: train it with --freeze_backbone "
                                 f"--init_from=<the --run network>")
        heads[n] = (model, run, record)
    widths = {m.config.slot_hidden for m, _, _ in heads.values()} | (
        {base.config.head_hidden or base.config.slot_hidden} if base.config.head_sizes else set())
    if len(widths) > 1:
        raise app.UsageError(f"the extra heads must have one width (--slot_hidden), got {sorted(widths)}")
    sizes = tuple(sorted((*base.config.head_sizes, *heads)))
    joined = PaletteNet(base.config.replace(head_sizes=sizes, head_hidden=widths.pop()))
    joined.backbone.set_weights(base.backbone.get_weights())
    for target, layer in zip(joined.head_layers, base.head_layers):
        target.set_weights(layer.get_weights())
    for size, head in zip(sizes, joined.extra_heads):
        source = heads[size][0].head_layers if size in heads else \
            base.extra_heads[base.config.head_sizes.index(size)].head_layers
        for target, layer in zip(head.head_layers, source):
            target.set_weights(layer.get_weights())
    return joined, [(n, run, record) for n, (_, run, record) in sorted(heads.items())]


def _dither_net_from_encoder_checkpoint(record: dict, path: str):
    """Stage 2 checkpoints the whole GIFEncoder: rebuild it as the run did and take its DitherNet."""
    import numpy as np

    from gif_pipeline.models.gifnets.config import DitherNetConfig, LossConfig
    from gif_pipeline.models.gifnets.dither_net import build_dither_net
    from gif_pipeline.models.gifnets.gif_encoder import GIFEncoder
    from gif_pipeline.weights import registry

    if "palette_model" not in record or "loss" not in record:
        raise app.UsageError("config.json does not say which PaletteNet the DitherNet run used: let the run finish")
    palette = registry.load("palette", explicit=record["palette_model"])
    banding = registry.load("banding", explicit=record["banding_model"]) if record.get("banding_model") else None
    dither = build_dither_net(DitherNetConfig.from_dict(record["model"]))
    encoder = GIFEncoder(palette, dither, banding, loss_config=LossConfig.from_dict(record["loss"]),
                         projection=record.get("projection", "soft"), refine_palette=record.get("refine_palette", 0),
                         palette_colors=record.get("palette_colors"))
    encoder(np.zeros((1, 32, 32, 3), np.float32), training=False)
    encoder.load_weights(path)
    return dither


def _shown_path(path: str) -> str:
    """``path`` relative to the working directory when it lies inside it (cards name repo paths, not this disk's)."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def _list_images(folder: str, limit: int) -> list[str]:
    from gif_pipeline.data import images as data

    files = data.list_image_files([folder])
    if not files:
        raise app.UsageError(f"no images in {folder}")
    return files[:limit] if limit else files


def evaluate(kind: str, colors: list[int], weights_dir: str, images: list[str]) -> list[dict]:
    """Mean PSNR/SSIM/WSNR/banding/bytes and median ms per mode and palette size over ``images``,
    with ``weights_dir`` as the shipped weights."""
    import numpy as np

    from gif_pipeline import encode
    from gif_pipeline.io import images as image_io
    from gif_pipeline.metrics import banding as banding_metric
    from gif_pipeline.metrics import image as metrics

    os.environ["GIFNETS_WEIGHTS"] = weights_dir
    encode.clear_model_cache()
    pictures = [image_io.load_image(path).rgb for path in images]
    rows = []
    for n in colors:
        for palette, dither in SHIPPABLE[kind].compare:
            values = {k: [] for k in ("psnr", "ssim", "wsnr", "banding", "ms", "bytes")}
            for i, rgb in enumerate(pictures):
                if i == 0:  # compile and warm up outside the timing
                    encode.encode_image(rgb, n, palette, dither, backend="tf")
                # The Keras path: a run's .keras file has no LiteRT model until export_runtime builds one.
                result = encode.encode_image(rgb, n, palette, dither, backend="tf")
                values["psnr"].append(metrics.psnr(rgb, result.rgb))
                values["ssim"].append(metrics.ssim(rgb, result.rgb))
                values["wsnr"].append(metrics.wsnr(rgb, result.rgb))
                values["banding"].append(banding_metric.banding_score(result.rgb))
                values["ms"].append(result.seconds * 1000)
                values["bytes"].append(len(result.gif_bytes))
            row = {"colors": n, "palette": palette, "dither": dither,
                   **{k: float(np.median(v) if k == "ms" else np.mean(v)) for k, v in values.items()}}
            rows.append(row)
            logging.info("Np=%d %s/%s: %.2f dB, WSNR %.2f dB", n, palette, dither, row["psnr"], row["wsnr"])
    return rows


def reproduce_command(record: dict, kind: str) -> str:
    flags_used = record.get("flags", {})
    skip = {"model_dir", "resume", "logical_cpus", "strategy", "tpu", "image_summary_every"}
    if kind == "dither" and flags_used.get("init_from"):  # a fine-tune keeps the network's own channels
        skip |= {"block_channels", "bottleneck_channels", "upsample"}
        if not record.get("init_noise_channels_added"):  # the noise flags only matter when they added channels
            skip |= {"noise_channels", "noise_period"}
    parts = [f"trainers/train_{kind}"]
    for name, value in sorted(flags_used.items()):
        if name in skip or value is None:
            continue
        if isinstance(value, bool):
            parts.append(f"--{name}" if value else f"--no{name}")
        elif isinstance(value, list) and name in MULTI_FLAGS:
            parts.extend(f"--{name}={v}" for v in value)
        elif isinstance(value, list):  # a DEFINE_list flag: repeating it would keep only the last value
            parts.append(f"--{name}={','.join(map(str, value))}")
        else:
            parts.append(f"--{name}={value}")
    return " ".join(parts)


def _heads_section(heads, earlier: str = "") -> list[str]:
    """The card's list of extra heads: ``earlier`` (the base file's card's list) and the runs in ``heads``."""
    if not heads and not earlier:
        return []
    lines = ["", "## Extra slot heads (`head_sizes`)", "",
             "Each was trained alone on the frozen backbone above (`--freeze_backbone --init_from` this network), "
             "then joined to it by `trainers/ship_model --add_heads`.", "", *([earlier] if earlier else [])]
    for n, run, record in heads:
        losses = record.get("history", {}).get("val_loss", [])
        best = f"best validation loss {min(losses):.5f} (epoch {losses.index(min(losses)) + 1})" if losses else \
            "no validation history"
        lines += [f"- **{n} colours** (`{_shown_path(run)}`): {record.get('epochs_run')} epochs, "
                  f"{record.get('flags', {}).get('steps')} steps, {best}"
                  + (f"; {record['note']}" if record.get("note") else "") + ":", "", "  ```",
                  "  " + reproduce_command(record, "palette"), "  ```"]
    return lines


def _training_lines(record: dict, kind: str) -> str:
    """The card's training section from the run's record: frozen networks, data, steps, best epoch, command."""
    val_losses = record.get("history", {}).get("val_loss", [])
    lines = [
        *([f"- Frozen networks: PaletteNet `{_shown_path(record['palette_model'])}`"
           + (f" (its first {record['palette_colors']} colours)" if record.get("palette_colors") else "")
           + (f", BandingNet `{_shown_path(record['banding_model'])}`" if record.get("banding_model") else "")
           + (f"; palettes refined by {record['refine_palette']} Lloyd steps" if record.get("refine_palette")
              else "") + "."] if record.get("palette_model") else []),
        f"- Data: {', '.join(record.get('flags', {}).get('data') or ['the package samples'])} "
        "(validation during training: the trainer's held-out 20% split by file name).",
        f"- Epochs run: {record.get('epochs_run')}; steps: {record.get('flags', {}).get('steps')}; "
        f"batch {record.get('flags', {}).get('batch_size')}.",
        f"- Best validation loss {min(val_losses):.5f} (epoch {val_losses.index(min(val_losses)) + 1}); "
        "the shipped weights are that epoch's." if val_losses else "- No validation history recorded.",
        *([f"- Note: {record['note']}."] if record.get("note") else []),
        "- Reproduce (then `trainers/ship_model --kind=" + kind + " --run=MODEL_DIR`):", "", "```",
        reproduce_command(record, kind), "```"]
    return "\n".join(lines)


def model_card(kind: str, name: str, model, record: dict, rows: list[dict], n_images: int, val: str,
               size_mb: float, heads=()) -> str:
    title = SHIPPABLE[kind].title
    lines = [f"# {title} (`{name}`)", "",
             f"Written by `trainers/ship_model` on {datetime.date.today().isoformat()}.", "",
             "## Model",
             f"- Config: `{json.dumps(record.get('model', {}), sort_keys=True)}`",
             f"- {model.count_params():,} parameters; the file is {size_mb:.2f} MB (weights only, no optimizer state).",
             "", "## Training" + (f" (the {model.num_colors}-colour network)" if heads else ""),
             record.get("card_training") or _training_lines(record, kind)]
    lines += [*_heads_section(heads, record.get("card_heads", "")), "",
             f"## Held-out numbers ({n_images} images of `{val}`, through `gifnets encode`'s code path)", "",
             "| colours | palette | dither | PSNR dB | SSIM | WSNR dB | banding | GIF bytes | ms/image (median) |",
             "|---:|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['colors']} | {r['palette']} | {r['dither']} | {r['psnr']:.2f} | {r['ssim']:.4f} | "
                     f"{r['wsnr']:.2f} | {r['banding']:.3f} | {r['bytes']:,.0f} | {r['ms']:.1f} |")
    lines += ["", "banding: gifnets' banding teacher (Algorithm 1; 0 = none visible). Times are wall-clock on a "
              "shared 2-core CPU: compare them within this table only.", ""]
    return "\n".join(lines)


def main(argv):
    del argv
    heads = []
    if FLAGS.add_heads:
        if FLAGS.kind != "palette":
            raise app.UsageError("--add_heads is for --kind=palette")
        model, record, source = load_base_model(FLAGS.run)
        model, heads = join_heads(model, FLAGS.add_heads)
        record = {**record, "model": model.config.to_dict()}
    else:
        model, record, source = load_run_model(FLAGS.kind, FLAGS.run)
    np_colors = int(record["model"]["num_colors"]) if FLAGS.kind == "palette" else int(record["flags"]["np"])
    name = SHIPPABLE[FLAGS.kind].file.format(np=np_colors)
    dest = FLAGS.dest or registry.weights_dir()
    final = os.path.join(dest, name)
    if os.path.exists(final) and not FLAGS.force and not FLAGS.eval_only:
        raise app.UsageError(f"{final} exists; pass --force to replace it")
    images = _list_images(FLAGS.val, FLAGS.max_images)
    try:
        colors = [int(c) for c in FLAGS.colors] or list(getattr(getattr(model, "config", None), "nested_sizes", ())
                                                        or getattr(model, "served_colors", None) or [np_colors])
    except ValueError:
        raise app.UsageError(f"--colors: expected integers, got {','.join(FLAGS.colors)}")
    with tempfile.TemporaryDirectory() as tmp:
        # The candidate goes into a scratch weights folder, beside the other shipped networks of other
        # kinds (networks of its own kind would serve some palette sizes in its place).
        for other in os.listdir(registry.weights_dir()) if os.path.isdir(registry.weights_dir()) else []:
            if other.endswith(".keras") and not other.startswith(f"{FLAGS.kind}_np"):
                os.symlink(os.path.join(os.path.abspath(registry.weights_dir()), other), os.path.join(tmp, other))
        candidate = os.path.join(tmp, name)
        model.save(candidate)  # loaded with compile=False or built fresh: no optimizer state
        size_mb = os.path.getsize(candidate) / 2**20
        logging.info("Evaluating %s (%.2f MB, from %s) on %d images of %s", name, size_mb, source, len(images),
                     FLAGS.val)
        start = time.time()
        rows = evaluate(FLAGS.kind, colors, tmp, images)
        logging.info("Evaluation took %.0f s", time.time() - start)
        card = model_card(FLAGS.kind, name, model, record, rows, len(images), FLAGS.val, size_mb, heads)
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
        served = tuple(sorted(set(colors) | {np_colors})) if FLAGS.kind == "palette" else (np_colors,)
        registry.record(registry.Entry(f"gifnets/{name.rsplit('.', 1)[0]}", "gifnets", FLAGS.kind, name,
                                       card=os.path.basename(card_path), np=np_colors, serves=served,
                                       train=reproduce_command(record, FLAGS.kind) if record.get("flags") else "",
                                       evaluate=f"trainers/ship_model --kind={FLAGS.kind} --run=RUN --eval_only"),
                        dest)
        print(f"wrote {final} and {card_path}, and its entry in {registry.MANIFEST}", file=sys.stderr)


if __name__ == "__main__":
    app.run(main)
