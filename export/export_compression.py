"""Export the compression family's two graphs (issue #28): a SavedModel with the signatures ``compress`` and
``decompress``, and one float32 TFLite file per direction (builtin ops only; the decoder runs on a phone), each
checked against the Keras model on photos.

    python -m export.export_compression --mode=gan --channels=4 --out=exported/compress

writes ``saved_model/compress_{mode}_c{C}/1/``, ``tflite/compress_{mode}_c{C}_{compress,decompress}.tflite`` and
``manifest.json`` (the weights' sha256, the symbols' agreement and the images' largest difference). The range coder
(:mod:`gif_pipeline.models.compress.entropy`) stays beside the graphs: they take and give the integer symbols.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

MIN_SYMBOL_AGREEMENT = 0.999


def check(graph, saved, tflite: dict, images) -> dict:
    """Symbols of Keras (the graph), SavedModel and TFLite agree; decoded images within 1 grey level."""
    from ai_edge_litert.interpreter import Interpreter

    comp = Interpreter(model_content=tflite["compress"]).get_signature_runner()
    decomp = Interpreter(model_content=tflite["decompress"]).get_signature_runner()
    agree, max_diff, saved_diff = [], 0, 0
    for rgb in images:
        keep = np.ones(rgb.shape[:2] + (1,), np.uint8)[None]
        want = graph.compress(rgb[None], keep)
        got = comp(image=rgb[None], keep=keep)
        sv = saved.signatures["compress"](image=rgb[None], keep=keep)
        agree.append(float((got["symbols"] == want["symbols"].numpy()).mean()))
        assert np.array_equal(sv["symbols"].numpy(), want["symbols"].numpy()), "SavedModel symbols differ from Keras"
        size = np.array(rgb.shape[:2], np.int32)
        img = graph.decompress(want["symbols"], want["keep"], size)["image"].numpy()
        timg = decomp(symbols=want["symbols"].numpy(), keep=want["keep"].numpy(), size=size)["image"]
        simg = saved.signatures["decompress"](symbols=want["symbols"], keep=want["keep"], size=size)["image"].numpy()
        max_diff = max(max_diff, int(np.abs(timg.astype(int) - img).max()))
        saved_diff = max(saved_diff, int(np.abs(simg.astype(int) - img).max()))
    result = {"symbol_agreement": min(agree), "tflite_max_abs_diff": max_diff, "saved_model_max_abs_diff": saved_diff}
    if result["symbol_agreement"] < MIN_SYMBOL_AGREEMENT or max_diff > 2 or saved_diff > 0:
        raise SystemExit(f"export check failed: {result}")
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m export.export_compression", description=__doc__.split("\n\n")[0])
    p.add_argument("--mode", choices=("gan", "mse"), default="gan")
    p.add_argument("--channels", type=int, default=4)
    p.add_argument("--model", default=None, help="a compressor .keras file instead of the installed one")
    p.add_argument("--out", default="exported/compress")
    p.add_argument("--images", default=None, help="folder of photos for the check (default: the package samples)")
    args = p.parse_args(argv)
    import tensorflow as tf
    from PIL import Image

    from gif_pipeline.data.images import default_sources, list_image_files
    from gif_pipeline.io.files import atomic_write
    from gif_pipeline.models.compress.graph import CompressionGraph, save, to_tflite
    from gif_pipeline.weights import registry

    kind = f"compress_{args.mode}"
    path = registry.find_model(kind, args.channels, explicit=args.model)
    compressor = registry.load(kind, args.channels, explicit=args.model)
    graph = CompressionGraph(compressor)
    name = f"compress_{args.mode}_c{compressor.config.channels}"
    sm_dir = os.path.join(args.out, "saved_model", name, "1")
    save(graph, sm_dir)
    tflite = {}
    os.makedirs(os.path.join(args.out, "tflite"), exist_ok=True)
    for which in ("compress", "decompress"):
        tflite[which] = to_tflite(graph, which)
        atomic_write(os.path.join(args.out, "tflite", f"{name}_{which}.tflite"), tflite[which], force=True)
    files = list_image_files([args.images] if args.images else default_sources())[:4]
    images = [np.asarray(Image.open(f).convert("RGB"))[:256, :256] for f in files]
    result = check(graph, tf.saved_model.load(sm_dir), tflite, images)
    manifest = {"model": path, "sha256": registry.sha256(path), "saved_model": sm_dir,
                "tflite": {k: f"tflite/{name}_{k}.tflite" for k in tflite},
                "tflite_bytes": {k: len(v) for k, v in tflite.items()}, "check_images": files, **result}
    atomic_write(os.path.join(args.out, "manifest.json"), (json.dumps(manifest, indent=2) + "\n").encode(), force=True)
    print(json.dumps(manifest, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
