#!/usr/bin/env python
"""TFLite variants of the GIFnets encoder: size, latency (XNNPACK, 1 and 2 threads) and agreement
with the SavedModel (issue 6).

For every variant of :mod:`export.export_tflite` (plus a dynamic-size float32 model) the script
prints the file size, the median latency of one ``serving_default`` call with the LiteRT
interpreter (``ai-edge-litert``, XNNPACK delegate, 1 and 2 threads), and, against the TF Serving
SavedModel on the same images: the fraction of identical palette indices, the fraction of
identical uint8 palettes, and the PSNR of both GIFs against the input. It also reports which ops
run in float and whether ``resize_tensor_input`` works.

Without trained weights the networks are freshly initialised (``--init=auto``; the table says
so): latency and size are then representative of the architecture (``--random_config=paper``),
agreement numbers are not representative of trained weights.

Usage (from the repository root)::

    python benchmarks/tflite_latency.py --np=16 --size=256 --out=results/tflite_latency.md
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from export import export_saved_model as esm  # noqa: E402
from export import export_tflite as etl  # noqa: E402


def latency_ms(path: str, image: np.ndarray, threads: int, runs: int, warmup: int = 2) -> float:
    encoder = etl.TFLiteEncoder(path, num_threads=threads)
    for _ in range(warmup):
        encoder.encode(image)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        encoder.encode(image)
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def float_ops(path: str) -> tuple[str, list[str]]:
    """``"float/total"`` op counts (by output dtype) and the float op types."""
    ops = etl.op_summary(path)
    floats = sorted({name for (name, dtype) in ops if dtype == "float32"})
    return f"{sum(n for (_, d), n in ops.items() if d == 'float32')}/{sum(ops.values())}", floats


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    esm.add_model_arguments(p)
    p.set_defaults(random_config="paper")
    p.add_argument("--size", type=int, default=etl.DEFAULT_SIZE, help="fixed input size (default: %(default)s)")
    p.add_argument("--variants", default=",".join(etl.VARIANTS))
    p.add_argument("--no_dynamic", action="store_true", help="skip the dynamic-size float32 model")
    p.add_argument("--data", nargs="*", default=None, help="image sources (default: the package samples)")
    p.add_argument("--compare_split", default="all", choices=("train", "val", "all"))
    p.add_argument("--compare_samples", type=int, default=16)
    p.add_argument("--calibration_split", default="train", choices=("train", "val", "all"))
    p.add_argument("--calibration_samples", type=int, default=8)
    p.add_argument("--threads", default="1,2", help="comma-separated thread counts (default: %(default)s)")
    p.add_argument("--runs", type=int, default=10, help="timed runs per measurement (default: %(default)s)")
    p.add_argument("--workdir", default=None, help="keep the exported models here (default: a temp folder)")
    p.add_argument("--out", default=None, help="also write the table as Markdown to this file")
    args = p.parse_args(argv)

    import tensorflow as tf

    variants = etl.parse_variants(args.variants)
    threads = [int(t) for t in args.threads.split(",")]
    work = args.workdir or tempfile.mkdtemp(prefix="gifnets-tflite-bench-")
    bundle = esm.bundle_from_args(args)
    print(f"encoder: {bundle.describe()}", file=sys.stderr)
    saved = esm.export_saved_model(bundle, os.path.join(work, "saved_model"), "gifnets", 1, overwrite=True)
    reference = tf.saved_model.load(saved).signatures[esm.SERVING_SIGNATURE]
    calibration = etl.representative_images(args.data, args.size, args.calibration_samples, args.calibration_split,
                                            args.seed)
    images = etl.representative_images(args.data, args.size, args.compare_samples, args.compare_split, args.seed)
    paths = etl.export_tflite(bundle, os.path.join(work, "tflite"), args.size, variants, calibration,
                              overwrite=True)
    rows = {v: (p, args.size) for v, p in paths.items()}
    if not args.no_dynamic:
        dyn = etl.export_tflite(bundle, os.path.join(work, "tflite_dynamic"), None, ["float32"], overwrite=True)
        rows["float32 (dynamic size)"] = (dyn["float32"], None)

    header = ["variant", "size (KB)"] + [f"ms @{t} thr" for t in threads] + [
        "identical indices", "identical palettes", "PSNR SavedModel", "PSNR TFLite", "ΔPSNR", "float ops"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    notes = []
    for variant, (path, _) in rows.items():
        encoder = etl.TFLiteEncoder(path)
        agreement = etl.compare(reference, encoder, images)
        timings = [latency_ms(path, images[0][0], t, args.runs) for t in threads]
        cells = [variant, f"{os.path.getsize(path) / 1024:.0f}"] + [f"{t:.1f}" for t in timings] + [
            f"{agreement.identical_indices:.4%}", f"{agreement.identical_palettes:.0%}",
            f"{agreement.psnr_reference:.2f}", f"{agreement.psnr_tflite:.2f}", f"{agreement.psnr_delta:+.3f}",
            float_ops(path)[0]]
        if "int8" in variant and variant != "dynamic_int8":
            notes.append(f"{variant} float ops: {', '.join(float_ops(path)[1])}.")
        lines.append("| " + " | ".join(cells) + " |")
        print(lines[-1], file=sys.stderr)

    notes = [f"Np={bundle.num_colors}, mode {bundle.mode}, input {args.size}x{args.size} uint8, "
             f"{len(images)} comparison images ({args.compare_split} split of {args.data or 'the package samples'}), "
             f"{len(calibration)} calibration images ({args.calibration_split} split).",
             f"Models: {bundle.sources}.",
             f"Latency: median of {args.runs} runs after 2 warm-ups, LiteRT interpreter with XNNPACK; machine load "
             f"average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs.",
             "float ops: ops with float32 outputs / all ops."] \
        + notes
    for variant in ("float32", "float32 (dynamic size)"):
        if variant in rows:
            works, message = etl.resize_tensor_input_works(rows[variant][0], args.size // 2, args.size // 2 + 8)
            notes.append(f"resize_tensor_input on {variant}: {'works' if works else 'fails'} ({message}).")
    text = "\n".join(lines) + "\n\n" + "\n".join(f"- {n}" for n in notes) + "\n"
    print(text)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            f.write("# TFLite variants: size, latency, agreement with the SavedModel\n\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
