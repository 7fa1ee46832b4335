"""`gifnets bench` with candidate DitherNets beside the installed one, in one run.

    python benchmarks/bench_dither_candidates.py ../shared/data/val --colors 16 --out runs/bench_cands \
        --candidate d010=runs/d16_delta0.10/dither_np16.keras --candidate d020=... \
        --methods "gifnets:net+kmeans:net" "libimagequant:d1" [any other `gifnets bench` flag]

Each ``--candidate NAME=FILE`` (a DitherNet ``.keras``, or a ``train_dither`` run folder whose best epoch is
rebuilt as ``trainers/ship_model`` does) adds the method ``gifnets:net+kmeans:net@NAME``: the same ``net+kmeans``
palette as the installed pipeline, dithered by that network. The networks run on TensorFlow (the
candidates have no ``.tflite``), so the script sets ``GIFNETS_BACKEND=tf`` for the installed network too, unless
the environment sets a backend. Every method is on the HTML page (zoomed crops and error spectra).
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load_candidate(path: str):
    """A DitherNet from a ``.keras`` file or a ``train_dither`` run folder (its ``best.weights.h5``)."""
    from gif_pipeline.weights import registry

    if os.path.isdir(path):
        import json

        from trainers.ship_model import _dither_net_from_encoder_checkpoint

        with open(os.path.join(path, "config.json")) as f:
            record = json.load(f)
        return _dither_net_from_encoder_checkpoint(record, os.path.join(path, "best.weights.h5"))
    return registry.load("dither", explicit=path)


def dither_stage(model):
    """An ``encode.DITHER_STAGES`` entry: ``(rgb, palette) -> indices`` with ``model`` (TensorFlow, one piece)."""
    import numpy as np
    import tensorflow as tf

    from gif_pipeline.layers.common import image_to_unit
    from gif_pipeline.models.gifnets import dither_net, graph

    net = dither_net.inference_model(model)
    fn = tf.function(lambda image, palette: graph.dithered_indices(net, image, palette), reduce_retracing=True,
                     autograph=False)

    def stage(rgb, palette):
        image, unit = image_to_unit(rgb)[None], palette.astype(np.float32) / 127.5 - 1.0
        return fn(image, unit).numpy()[0].astype(np.uint8)

    return stage


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], add_help=True)
    p.add_argument("--candidate", action="append", default=[], metavar="NAME=FILE", required=True,
                   help="a candidate DitherNet (.keras or run folder); repeatable")
    p.add_argument("--palette", default="net+kmeans", help="palette stage of the candidates' methods")
    args, rest = p.parse_known_args(argv)
    os.environ.setdefault("GIFNETS_BACKEND", "tf")

    from gif_pipeline import encode
    from gif_pipeline.eval import bench

    names = []
    for spec in args.candidate:
        name, _, path = spec.partition("=")
        if not name or not path:
            p.error(f"--candidate wants NAME=FILE, got {spec!r}")
        encode.DITHER_STAGES[f"net@{name}"] = dither_stage(load_candidate(path))
        bench.GIFNETS_MODES = (*bench.GIFNETS_MODES, (args.palette, f"net@{name}"))
        names.append(bench.gifnets_method_name(args.palette, f"net@{name}"))

    bp = bench.build_parser("bench_dither_candidates")
    b = bp.parse_args(rest)
    methods = (b.methods or []) + names if b.methods else None
    report = bench.run(b.images_dir, colors=b.colors, methods=methods, out_dir=b.out, max_images=b.max_images,
                       html_examples=b.html_examples, vmaf=not b.no_vmaf, exclude=b.exclude, html_colors=b.html_colors,
                       html_methods=[*bench.HTML_PEERS, *(m for m in (b.methods or []) if m.startswith("gifnets:")),
                                     *names],
                       timing_repeats=b.timing_repeats, force=b.force, progress=not b.quiet)
    bench.print_report(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
