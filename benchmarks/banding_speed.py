#!/usr/bin/env python
"""Time per 256x256 image: the banding teacher (NumPy/SciPy, CPU) vs BandingNet (TF, CPU).

The test images are 256x256 crops (short side resized to 256, centre crop) of the images in
``--images`` (default: the package samples), quantized to 16 colours with median cut, without
and with Floyd-Steinberg (the teacher's run time depends on how many band edges it traces).
BandingNet is timed at batch 1 and batch 8 after a warm-up call (graph tracing excluded), through
a ``tf.function``; ``--model`` defaults to the shipped ``gif_pipeline/weights/banding.keras``
(else ``runs/banding/banding_net.keras``; an untrained paper-size net when neither exists:
the time does not depend on the weights).

    python benchmarks/banding_speed.py [--images DIR] [--model PATH] [--repeats 5]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load_crops(folder: str | None, size: int = 256) -> list[np.ndarray]:
    from PIL import Image

    from gif_pipeline.data import banding as banding_data
    from gif_pipeline.data import images as data
    from gif_pipeline.io.images import load_image

    files = data.list_image_files([folder]) if folder else data.default_sources()
    crops = []
    for path in files[:8]:
        rgb = load_image(path, background=(255, 255, 255)).rgb
        h, w = rgb.shape[:2]
        s = size / min(h, w)
        rgb = np.asarray(Image.fromarray(rgb).resize((max(size, round(w * s)), max(size, round(h * s))),
                                                     Image.Resampling.BILINEAR))
        top, left = (rgb.shape[0] - size) // 2, (rgb.shape[1] - size) // 2
        crop = np.ascontiguousarray(rgb[top:top + size, left:left + size])
        for dither in ("none", "fs"):
            crops.append(banding_data.quantize(crop, 16, "median-cut", dither))
    return crops


def load_model(path: str | None):
    from gif_pipeline.errors import MissingPrerequisiteError
    from gif_pipeline.models.gifnets.banding_net import build_banding_net
    from gif_pipeline.weights import registry

    try:
        found = registry.find_model("banding", explicit=path)
        return registry.load("banding", explicit=found), found
    except MissingPrerequisiteError:
        if path:
            raise
        return build_banding_net(), "untrained paper-size BandingNet (no trained model found)"


def time_teacher(crops, repeats: int) -> float:
    from gif_pipeline.metrics.banding import banding_score

    banding_score(crops[0])  # warm-up (imports, caches)
    per_pass = []
    for _ in range(repeats):
        start = time.perf_counter()
        for c in crops:
            banding_score(c)
        per_pass.append((time.perf_counter() - start) / len(crops))
    return statistics.median(per_pass)


def time_net(model, crops, batch: int, repeats: int) -> float:
    import tensorflow as tf

    x = np.stack(crops).astype(np.float32) / 127.5 - 1.0
    batches = [x[i:i + batch] for i in range(0, len(x) - batch + 1, batch)]
    fn = tf.function(lambda t: model(t, training=False), reduce_retracing=True)
    fn(tf.constant(batches[0])).numpy()  # trace once
    per_image = []
    for _ in range(repeats):
        start = time.perf_counter()
        for b in batches:
            fn(tf.constant(b)).numpy()
        per_image.append((time.perf_counter() - start) / (len(batches) * batch))
    return statistics.median(per_image)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", default=None, help="image folder (default: the package samples)")
    parser.add_argument("--model", default=None, help="BandingNet .keras (default: shipped, else runs/banding)")
    parser.add_argument("--repeats", type=int, default=5, help="timed passes (the median is reported)")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    crops = load_crops(args.images)
    while len(crops) < 8:  # batch 8 needs at least 8 images
        crops = crops + crops
    model, model_name = load_model(args.model)
    teacher = time_teacher(crops, args.repeats)
    net1 = time_net(model, crops, 1, args.repeats)
    net8 = time_net(model, crops, 8, args.repeats)
    print(f"Banding scorers, time per 256x256 image ({len(crops)} images: 16-colour median cut, none/FS; "
          f"median of {args.repeats} passes; {os.cpu_count()} CPU cores)")
    print(f"BandingNet: {model_name} ({model.count_params():,} parameters)\n")
    print("| scorer | batch | ms / image | vs teacher |")
    print("|---|---|---|---|")
    print(f"| teacher (banding_metric.banding_score, NumPy/SciPy) | 1 | {1000 * teacher:.1f} | 1.0x |")
    print(f"| BandingNet (TF, CPU) | 1 | {1000 * net1:.1f} | {teacher / net1:.1f}x |")
    print(f"| BandingNet (TF, CPU) | 8 | {1000 * net8:.1f} | {teacher / net8:.1f}x |")


if __name__ == "__main__":
    main()
