"""Export the interpolation network (issue 27): a TF Serving SavedModel and a float32 TFLite file of its graph
(:class:`gif_pipeline.models.interp.graph.InterpGraph`), each checked against Keras on real frames.

    python -m export.export_interp --out exported/interp            # the registry's weights (or runs/interp)
    python -m export.export_all --model=interp --out exported/interp  # the same

writes ``saved_model/interp/1/`` (``serving_default`` = interpolate(frame0, frame1, t) -> frame, plus ``flows`` and
``synthesize``), ``tflite/interp_float32.tflite`` (interpolate; TFLITE_BUILTINS only) and ``manifest.json`` with
the check: the largest uint8 difference and the PSNR between each export and Keras on frame pairs of the
held-out clip (or the sample photos shifted, without the clips).
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np


def _pairs(clips_dir: str, size=(480, 270)):
    from gif_pipeline.eval import interp as bench

    try:
        frames = bench.held_out_clip(clips_dir, size=size, max_frames=9)
        return [(frames[i][None], frames[i + 4][None]) for i in (0, 4)], "bigbuckbunny.mp4 frames 0-4, 4-8"
    except Exception:  # no clips here: a photo and its shift
        from PIL import Image

        from gif_pipeline.data.images import default_sources
        from gif_pipeline.data.motion import list_images

        photo = np.asarray(Image.open(list_images(default_sources())[0]).convert("RGB").resize((256, 192)))
        return [(photo[None], np.roll(photo, 5, axis=1)[None])], "a sample photo and its 5-px shift"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m export.export_interp", description=__doc__.split("\n")[0])
    p.add_argument("--weights", default=None, help="InterpNet .keras (default: the registry's, else runs/interp)")
    p.add_argument("--out", default=os.path.join("exported", "interp"))
    p.add_argument("--clips-dir", default=os.path.join("..", "shared", "data", "clips"))
    p.add_argument("--overwrite", action="store_true")
    args = p.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    from gif_pipeline.errors import GifnetsError
    from gif_pipeline.models.interp.graph import InterpGraph, tflite_bytes
    from gif_pipeline.weights import registry

    try:
        path = registry.find_model("interp", explicit=args.weights)
        graph = InterpGraph(registry.load("interp", explicit=path))
    except GifnetsError as e:
        print(f"export_interp: error: {e}", file=sys.stderr)
        return 2
    saved = os.path.join(args.out, "saved_model", "interp", "1")
    if os.path.exists(saved) and not args.overwrite:
        print(f"export_interp: error: {saved} exists (use --overwrite)", file=sys.stderr)
        return 2
    graph.save(saved)
    tflite_path = os.path.join(args.out, "tflite", "interp_float32.tflite")
    os.makedirs(os.path.dirname(tflite_path), exist_ok=True)
    with open(tflite_path, "wb") as f:
        f.write(tflite_bytes(saved))
    loaded = tf.saved_model.load(saved).signatures["serving_default"]
    runner = Interpreter(model_path=tflite_path).get_signature_runner()
    pairs, what = _pairs(args.clips_dir)
    check = {"frames": what, "t": [0.25, 0.5, 0.75], "saved_model": [], "tflite": []}
    for a, b in pairs:
        for t in check["t"]:
            tt = np.array([t], np.float32)
            want = graph.interpolate(a, b, tt)["frame"].numpy().astype(np.int16)
            for name, got in (("saved_model", loaded(frame0=a, frame1=b, t=tt)["frame"].numpy()),
                              ("tflite", runner(frame0=a, frame1=b, t=tt)["frame"])):
                d = np.abs(got.astype(np.int16) - want)
                mse = float(np.mean(d.astype(np.float64) ** 2))
                check[name].append({"max_abs": int(d.max()), "psnr_vs_keras": 99.0 if mse == 0 else
                                    float(10 * np.log10(255 ** 2 / mse))})
    manifest = {"model": "interp", "weights": path, "sha256": registry.sha256(path), "saved_model": saved,
                "tflite": tflite_path, "tflite_bytes": os.path.getsize(tflite_path), "check": check}
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
    worst = max(c["max_abs"] for c in check["saved_model"] + check["tflite"])
    print(f"SavedModel: {saved}\nTFLite: {tflite_path} ({os.path.getsize(tflite_path):,} bytes)\n"
          f"check vs Keras on {what}: largest uint8 difference {worst}")
    if worst > 2:
        print("export_interp: error: an export differs from Keras by more than 2 levels", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
