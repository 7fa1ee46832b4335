"""Export a restore CCDNet (gif_pipeline/models/restore/graph.py) to a TF Serving SavedModel and a float32 TFLite
file, and check both against the Keras network on sample GIFs.

    python -m export.export_restore --kind=ccdnet_plain --steps=2 --out=exported/restore

writes ``saved_model/<kind>_k<steps>/1/``, ``tflite/<kind>_k<steps>.tflite`` and ``manifest.json`` (the largest
uint8 difference of each against Keras). ``serving_default``: ``image`` uint8 ``[B, H, W, 3]``, ``palette`` uint8
``[K, 3]`` -> ``restored`` uint8 ``[B, H, W, 3]``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np


def sample_gifs(n_colors: int = 32, size: int = 64):
    """The package's sample photos, median-cut to ``n_colors`` colours: ``[(uint8 image, uint8 palette)]``."""
    from PIL import Image

    from gif_pipeline.data.images import default_sources, list_image_files

    out = []
    for path in list_image_files(default_sources()):
        with Image.open(path) as im:
            q = im.convert("RGB").resize((size, size)).quantize(n_colors)
        rgb = np.asarray(q.convert("RGB"))
        palette = np.asarray(q.getpalette()[: 3 * n_colors], np.uint8).reshape(-1, 3)
        out.append((rgb, palette))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m export.export_restore", description=__doc__.split("\n")[0])
    p.add_argument("--kind", default="ccdnet_plain", choices=["ccdnet_plain", "ccdnet_dithered"])
    p.add_argument("--steps", type=int, default=2, choices=[1, 2, 3])
    p.add_argument("--weights", default=None, help="a .keras file instead of the registry's")
    p.add_argument("--out", default="exported/restore")
    args = p.parse_args(argv)
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    from gif_pipeline.models.restore import graph as restore_graph
    from gif_pipeline.weights import registry

    model = registry.load(args.kind, explicit=args.weights)
    g = restore_graph.RestoreGraph(model, args.steps)
    name = f"{args.kind}_k{args.steps}"
    saved = os.path.join(args.out, "saved_model", name, "1")
    restore_graph.save(g, saved)
    os.makedirs(os.path.join(args.out, "tflite"), exist_ok=True)
    tflite_path = os.path.join(args.out, "tflite", name + ".tflite")
    with open(tflite_path, "wb") as f:
        f.write(restore_graph.to_tflite(saved))
    served = tf.saved_model.load(saved).signatures[restore_graph.SERVING_SIGNATURE]
    worst_saved = worst_tflite = 0
    for rgb, palette in sample_gifs():
        want = np.asarray(g.serve(rgb[None], palette)["restored"]).astype(int)
        got_saved = np.asarray(served(image=tf.constant(rgb[None]), palette=tf.constant(palette))["restored"])
        interpreter = Interpreter(model_path=tflite_path)
        inputs = {d["name"]: d for d in interpreter.get_input_details()}
        image_in = next(d for n, d in inputs.items() if "image" in n)
        palette_in = next(d for n, d in inputs.items() if "palette" in n)
        interpreter.resize_tensor_input(image_in["index"], rgb[None].shape)
        interpreter.resize_tensor_input(palette_in["index"], palette.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(image_in["index"], rgb[None])
        interpreter.set_tensor(palette_in["index"], palette)
        interpreter.invoke()
        got_tflite = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
        worst_saved = max(worst_saved, int(np.abs(got_saved.astype(int) - want).max()))
        worst_tflite = max(worst_tflite, int(np.abs(got_tflite.astype(int) - want).max()))
    manifest = {"kind": args.kind, "steps": args.steps, "saved_model": os.path.relpath(saved, args.out),
                "tflite": os.path.relpath(tflite_path, args.out), "tflite_bytes": os.path.getsize(tflite_path),
                "max_uint8_difference_vs_keras": {"saved_model": worst_saved, "tflite": worst_tflite}}
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
    print(json.dumps(manifest))
    if worst_saved > 1 or worst_tflite > 1:
        print("export_restore: error: the exported model differs from Keras by more than one grey level",
              file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
