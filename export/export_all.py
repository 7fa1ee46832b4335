"""One command for both formats: a TF Serving SavedModel and the TFLite variants, then a check that
the float32 TFLite model reproduces the SavedModel's GIFs.

    python -m export.export_all --model=gifnets --np=16 --out=exported/

writes::

    exported/saved_model/gifnets/1/          TF Serving layout (serving_default + debug_float)
    exported/tflite/gifnets_<variant>.tflite  one file per variant, + gifnets_tflite.json
    exported/manifest.json                    what was exported, from which weights, and the check

Without trained weights (``gif_pipeline/weights`` or ``runs/``) it exports freshly initialised
networks (``--init=auto``, with a warning; the manifest says so). ``--init=trained`` refuses that.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from export import export_saved_model as sm
from export import export_tflite as tfl
from gif_pipeline.errors import GifnetsError

FLOAT32_MIN_AGREEMENT = 0.999  # the float32 TFLite model must reproduce >= 99.9 % of the indices

#: Model family -> (its networks from the flags, the SavedModel writer, the TFLite writer). Each family's
#: writers export the family's one deployable graph (gif_pipeline/models/<family>/graph.py).
FAMILIES = {"gifnets": (sm.bundle_from_args, sm.export_saved_model, tfl.export_tflite)}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m export.export_all", description=__doc__.split("\n")[0])
    p.add_argument("--model", choices=sorted(FAMILIES), default="gifnets",
                   help="model family to export (default: %(default)s)")
    sm.add_model_arguments(p)
    sm.add_saved_model_arguments(p)
    tfl.add_tflite_arguments(p)
    p.add_argument("--out", default="exported", help="output folder (default: %(default)s)")
    p.add_argument("--no_verify", action="store_true", help="skip the float32 TFLite vs SavedModel check")
    return p


def verify_float32(saved_model_path: str, tflite_path: str, images) -> tfl.Agreement:
    """Compare the float32 TFLite model with the SavedModel; raise if < 99.9 % identical indices."""
    import tensorflow as tf

    reference = tf.saved_model.load(saved_model_path).signatures[sm.SERVING_SIGNATURE]
    agreement = tfl.compare(reference, tfl.TFLiteEncoder(tflite_path), images)
    if agreement.identical_indices < FLOAT32_MIN_AGREEMENT:
        raise sm.ExportError(f"the float32 TFLite model agrees with the SavedModel on only "
                             f"{agreement.identical_indices:.4%} of the indices (< {FLOAT32_MIN_AGREEMENT:.1%})")
    return agreement


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--model=interp" in argv:  # the interpolation family has its own graph and check (export/export_interp.py)
        from export import export_interp

        return export_interp.main([a for a in argv if a != "--model=interp"])
    args = build_parser().parse_args(argv)
    try:
        variants = tfl.parse_variants(args.variants)
        size = tfl.parse_size(args.size)
        load, write_saved_model, write_tflite = FAMILIES[args.model]
        bundle = load(args)
        saved = write_saved_model(bundle, os.path.join(args.out, "saved_model"), args.name, args.version,
                                  args.overwrite)
        print(f"SavedModel: {saved}")
        calibration = tfl.calibration_from_args(args, variants)
        paths = write_tflite(bundle, os.path.join(args.out, "tflite"), size, variants, calibration, args.name,
                             args.overwrite)
        for variant, path in paths.items():
            print(f"TFLite {variant:>22}: {path} ({os.path.getsize(path):,} bytes)")
        manifest = {"model": args.model, **bundle.describe(), "saved_model": os.path.relpath(saved, args.out),
                    "tflite": {v: os.path.relpath(p, args.out) for v, p in paths.items()},
                    "tflite_input_shape": [1, size or -1, size or -1, 3]}
        if not args.no_verify and "float32" in paths:
            check_size = size or tfl.DEFAULT_SIZE
            images = tfl.representative_images(None, check_size, 8, "all", args.seed)
            agreement = verify_float32(saved, paths["float32"], images)
            manifest["float32_check"] = {"images": len(images), "identical_indices": agreement.identical_indices,
                                         "psnr_saved_model": agreement.psnr_reference,
                                         "psnr_tflite": agreement.psnr_tflite}
            print(f"float32 TFLite vs SavedModel: {agreement.identical_indices:.4%} identical indices on "
                  f"{len(images)} sample images, PSNR {agreement.psnr_tflite:.2f} vs {agreement.psnr_reference:.2f} dB")
        with open(os.path.join(args.out, "manifest.json"), "w") as f:
            json.dump(manifest, f, indent=2)
    except (GifnetsError, ValueError) as e:
        print(f"export_all: error: {e}", file=sys.stderr)
        return 2
    if any(s.startswith("random") for s in bundle.sources.values()):
        print("NOTE: exported freshly initialised network(s) " + json.dumps(bundle.sources)
              + "; train them and export again for useful GIFs.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
