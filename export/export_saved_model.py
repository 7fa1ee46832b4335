"""Export the GIFnets encoder as a TF Serving SavedModel (``BASE/NAME/VERSION/``).

The exported graph is the whole encoder of GIFnets Fig. 2, pre- and post-processing included, so
clients send raw pixels and get back exactly what a GIF stores:

    x        = image / 127.5 - 1                         (uint8 -> [-1, 1])
    P        = PaletteNet(resize(x))[:Np]                 §3.1, float palette in [-1, 1]; the net reads
                                                          x area-downscaled to its trained input
                                                          size, and a nested net gives its first Np
    P        = Lloyd(x, P, n)        (mode *+kmeans)      refinement of Eq. 2's error
    P8       = round((P + 1) * 127.5)                     uint8 palette (what the GIF stores)
    I'       = Proj(x, P8)                                Eq. 1 (DitherNet's second input)
    E'       = DitherNet(x, I')      (mode *+dither)      §3.2, padding to the U-Net multiple inside
    indices  = argmin_k ||x + E' - P8_k||^2               Eq. 5 against the *rounded* palette

Both projections use the rounded palette, so ``palette[indices]`` is exactly the decoded GIF. The graph is
:class:`gif_pipeline.models.gifnets.graph.EncoderGraph`, the one ``gifnets encode`` and
``encode.encode_batch`` run; DitherNet's batch norms are folded into its convolutions (float32).

Signatures (input ``image`` uint8 ``[B, H, W, 3]``, any ``B``, ``H``, ``W``; one palette per image):

* ``serving_default`` -> ``indices`` uint8 ``[B, H, W]``, ``palette`` uint8 ``[B, Np, 3]``;
* ``debug_float`` -> ``quantized`` float32 ``[B, H, W, 3]`` in [-1, 1] (Î of Eq. 5 with the float
  palette, as in training), ``error`` float32 ``[B, H, W, 3]`` (E'; zeros without DitherNet) and
  ``palette`` float32 ``[B, Np, 3]`` in [-1, 1].

One SavedModel serves one palette size Np; serve several Np as several models (``NAME`` per Np).

Usage::

    python -m export.export_saved_model --np=16 --out=exported/saved_model --name=gifnets --version=1
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import shutil
import sys
import tempfile

from gif_pipeline.errors import GifnetsError, MissingPrerequisiteError
from gif_pipeline.models.gifnets.graph import DEBUG_SIGNATURE, INPUT_NAME, SERVING_SIGNATURE  # noqa: F401

MODES = ("net", "net+dither", "net+kmeans", "net+kmeans+dither")
INITS = ("auto", "trained", "random")
RANDOM_CONFIGS = ("tiny", "paper")

log = logging.getLogger("gifnets.export")


class ExportError(GifnetsError):
    """An export cannot be made (bad option, existing output, conversion failure)."""


@dataclasses.dataclass
class EncoderBundle:
    """The networks of one exported encoder and how it was put together."""

    palette_net: object
    dither_net: object | None
    num_colors: int
    mode: str = "net+dither"
    kmeans_iterations: int = 0
    sources: dict = dataclasses.field(default_factory=dict)  # kind -> "trained:PATH" or "random:CONFIG"

    def __post_init__(self):
        if self.mode not in MODES:
            raise ExportError(f"mode must be one of {MODES}, got {self.mode!r}")
        if ("dither" in self.mode) != (self.dither_net is not None):
            raise ExportError(f"mode {self.mode!r} {'needs' if 'dither' in self.mode else 'takes no'} DitherNet")
        it = self.kmeans_iterations
        if isinstance(it, bool) or not isinstance(it, int) or it < 0:
            raise ExportError(f"kmeans_iterations must be an integer >= 0, got {it!r}")
        if "kmeans" in self.mode and it < 1:
            raise ExportError(f"mode {self.mode!r} needs kmeans_iterations >= 1")
        if "kmeans" not in self.mode and it:
            raise ExportError(f"kmeans_iterations={it} given but mode {self.mode!r} has no k-means step")

    def describe(self) -> dict:
        return {"num_colors": self.num_colors, "mode": self.mode, "kmeans_iterations": self.kmeans_iterations,
                "models": dict(self.sources)}


# ----------------------------------------------------------------------------------------- models


def _random_models(kind: str, num_colors: int, random_config: str, seed: int):
    import keras

    from gif_pipeline.models.gifnets.config import DitherNetConfig, PaletteNetConfig
    from gif_pipeline.models.gifnets.dither_net import build_dither_net
    from gif_pipeline.models.gifnets.palette_net import build_palette_net

    keras.utils.set_random_seed(seed + (0 if kind == "palette" else 1))
    if kind == "palette":
        config = (PaletteNetConfig.tiny(num_colors=num_colors) if random_config == "tiny"
                  else PaletteNetConfig(num_colors=num_colors))
        return build_palette_net(config)
    return build_dither_net(DitherNetConfig.tiny() if random_config == "tiny" else DitherNetConfig())


def load_encoder(num_colors: int = 16, mode: str = "net+dither", kmeans_iterations: int | None = None,
                 init: str = "auto", palette_model: str | None = None, dither_model: str | None = None,
                 random_config: str = "tiny", seed: int = 0) -> EncoderBundle:
    """The networks to export.

    ``init='trained'`` loads trained models (``palette_model``/``dither_model`` paths, else the
    shipped weights or the trainers' outputs, see :mod:`gif_pipeline.weights.registry`) and fails if one
    is missing; ``'random'`` builds freshly initialised networks (``random_config`` ``'tiny'`` or
    ``'paper'``), which is only useful to try the export path; ``'auto'`` takes trained models where
    they exist and random ones (with a warning) otherwise. What was used is kept in
    ``bundle.sources`` and written next to the export.
    """
    from gif_pipeline.config import check_num_colors
    from gif_pipeline.weights import registry

    try:
        check_num_colors(num_colors)
    except ValueError as e:
        raise ExportError(str(e)) from None
    if init not in INITS:
        raise ExportError(f"init must be one of {INITS}, got {init!r}")
    if random_config not in RANDOM_CONFIGS:
        raise ExportError(f"random_config must be one of {RANDOM_CONFIGS}, got {random_config!r}")
    if mode not in MODES:
        raise ExportError(f"mode must be one of {MODES}, got {mode!r}")
    if kmeans_iterations is None:
        from gif_pipeline.encode import KMEANS_REFINE_ITERATIONS

        kmeans_iterations = KMEANS_REFINE_ITERATIONS if "kmeans" in mode else 0
    kinds = ["palette"] + (["dither"] if "dither" in mode else [])
    explicit = {"palette": palette_model, "dither": dither_model}
    models, sources = {}, {}
    for kind in kinds:
        if init == "random":
            path = None
        else:
            try:
                path = registry.find_model(kind, _installed_np(kind, num_colors, explicit[kind]), explicit[kind])
            except MissingPrerequisiteError:
                if init == "trained" or explicit[kind]:
                    raise
                path = None
                log.warning("no trained %s model for Np=%d: exporting a freshly initialised one (%s config); "
                            "its GIFs are not meaningful", kind, num_colors, random_config)
        if path is None:
            models[kind] = _random_models(kind, num_colors, random_config, seed)
            sources[kind] = f"random:{random_config}:seed={seed}"
        else:
            models[kind] = registry.load(kind, num_colors, path)
            sources[kind] = f"trained:{os.path.abspath(path)}"
    palette_net = models["palette"]
    got = getattr(palette_net, "num_colors", None)
    nested = bool(getattr(getattr(palette_net, "config", None), "nested_sizes", ()))
    headed = num_colors in getattr(palette_net, "served_colors", ())
    if got is not None and got != num_colors and not (nested and got > num_colors) and not headed:
        raise ExportError(f"the palette model {sources['palette']} predicts {got} colours, not --np={num_colors}")
    return EncoderBundle(palette_net, models.get("dither"), num_colors, mode, kmeans_iterations, sources)


def _installed_np(kind: str, num_colors: int, explicit: str | None) -> int:
    """The Np of the installed network file that serves ``num_colors`` (:func:`registry.palette_file_np`)."""
    if kind != "palette" or explicit:
        return num_colors
    from gif_pipeline.weights import registry

    return registry.palette_file_np(num_colors)


# ----------------------------------------------------------------------------------------- graph


def encoder_graph(bundle: EncoderBundle, chunked: bool = True):
    """The bundle's :class:`~gif_pipeline.models.gifnets.graph.EncoderGraph`: the computation of
    ``gifnets encode`` and :func:`gif_pipeline.encode.encode_batch`, with DitherNet's batch norms folded
    (float32). ``chunked=False`` projects the whole image at once
    (:func:`~gif_pipeline.models.gifnets.graph.project_whole`; the dynamic-size TFLite export)."""
    from gif_pipeline.layers.folding import fold_batch_norm
    from gif_pipeline.models.gifnets.graph import EncoderGraph

    net, n = bundle.palette_net, bundle.num_colors
    nested = bool(getattr(getattr(net, "config", None), "nested_sizes", ()))
    how = "prefix" if nested and n < getattr(net, "num_colors", n) else "exact"
    dither = fold_batch_norm(bundle.dither_net, "float32") if bundle.dither_net is not None else None
    return EncoderGraph(net, dither, n, bundle.kmeans_iterations, how, whole=not chunked, portable=True)


def serving_outputs(bundle: EncoderBundle, image, chunked: bool = True):
    return encoder_graph(bundle, chunked).serving_outputs(image)


def tracked_variables(functions) -> list:
    """The ``tf.Variable``s the traced ``functions`` read (the networks' weights and batch-norm statistics, or
    their folded copies), deduplicated. Holding these on the saved object is what saves them: a Keras 3 model
    merely stored on a ``tf.Module`` is not tracked, and its SavedModel (and any TFLite model converted from
    it) would lack the weights."""
    seen, out = set(), []
    for fn in functions:
        for v in fn.variables:
            if id(v) not in seen:
                seen.add(id(v))
                out.append(v)
    return out


def build_module(bundle: EncoderBundle, input_shape=(None, None, None, 3), debug: bool = True, chunked: bool = True):
    """``(module, signatures)`` ready for ``tf.saved_model.save``; the module owns every variable.

    Equivalent to ``keras.export.ExportArchive`` with ``track()``ed models (which also collects the
    variables used by its endpoints) but about twice as fast to write for InceptionV2's ~1000 layers.
    """
    import tensorflow as tf

    signatures = encoder_graph(bundle, chunked).concrete_functions(input_shape, debug)
    module = tf.Module(name="gifnets_encoder")
    module.encoder_variables = tracked_variables(signatures.values())
    return module, signatures


def save_encoder(bundle: EncoderBundle, path: str, input_shape=(None, None, None, 3), debug: bool = True,
                 chunked: bool = True) -> None:
    """Write the encoder SavedModel to ``path`` (must not exist) via a temp folder beside it.

    The temp name is not numeric, so a TF Serving instance watching the parent never loads a
    half-written version.
    """
    import tensorflow as tf

    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    module, signatures = build_module(bundle, input_shape, debug, chunked)
    tmp = tempfile.mkdtemp(prefix=".tmp-export-", dir=parent)
    try:
        tf.saved_model.save(module, tmp, signatures=signatures)
        os.makedirs(os.path.join(tmp, "assets.extra"), exist_ok=True)  # TF Serving's folder for extra files
        with open(os.path.join(tmp, "assets.extra", "gifnets.json"), "w") as f:
            json.dump(bundle.describe(), f, indent=2)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def export_saved_model(bundle: EncoderBundle, base_dir: str, name: str = "gifnets", version: int = 1,
                       overwrite: bool = False) -> str:
    """Write ``base_dir/name/version/`` (TF Serving's layout) and return that path."""
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ExportError(f"version must be a positive integer, got {version!r}")
    if not name or os.sep in name or name.startswith("."):
        raise ExportError(f"model name must be a plain folder name, got {name!r}")
    path = os.path.join(base_dir, name, str(version))
    if os.path.exists(path):
        if not overwrite:
            raise ExportError(f"{path} already exists (pass --overwrite, or a new --version)")
        shutil.rmtree(path)
    save_encoder(bundle, path)
    return path


# ----------------------------------------------------------------------------------------- CLI


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    """Flags shared by every export command."""
    from gif_pipeline.encode import KMEANS_REFINE_ITERATIONS

    p.add_argument("--np", type=int, default=16, help="palette size Np, 2..256 (default: %(default)s)")
    p.add_argument("--mode", choices=MODES, default="net+dither",
                   help="net: PaletteNet + nearest colour; +dither: with DitherNet; +kmeans: Lloyd refinement "
                        "of the network's palette (default: %(default)s)")
    p.add_argument("--kmeans_iterations", type=int, default=None,
                   help=f"Lloyd iterations for the +kmeans modes (default: {KMEANS_REFINE_ITERATIONS}, the schedule "
                        "of `gifnets encode`: Lloyd steps and split-merge rounds on 4,096 pixels, the last fifth on "
                        "16,384)")
    p.add_argument("--init", choices=INITS, default="auto",
                   help="trained models, freshly initialised ones, or trained where found (default: %(default)s)")
    p.add_argument("--palette_model", default=None, help="path of a trained PaletteNet .keras file")
    p.add_argument("--dither_model", default=None, help="path of a trained DitherNet .keras file")
    p.add_argument("--random_config", choices=RANDOM_CONFIGS, default="tiny",
                   help="network size when a model is freshly initialised (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed of freshly initialised models (default: %(default)s)")


def bundle_from_args(args) -> EncoderBundle:
    return load_encoder(args.np, args.mode, args.kmeans_iterations, args.init, args.palette_model,
                        args.dither_model, args.random_config, args.seed)


def add_saved_model_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name", default="gifnets", help="model name: the folder under the base (default: %(default)s)")
    p.add_argument("--version", type=int, default=1, help="model version folder (default: %(default)s)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing version folder")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m export.export_saved_model", description=__doc__.split("\n")[0])
    add_model_arguments(p)
    add_saved_model_arguments(p)
    p.add_argument("--out", default="exported/saved_model", help="base folder (default: %(default)s)")
    return p


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    args = build_parser().parse_args(argv)
    try:
        bundle = bundle_from_args(args)
        path = export_saved_model(bundle, args.out, args.name, args.version, args.overwrite)
    except GifnetsError as e:
        print(f"export_saved_model: error: {e}", file=sys.stderr)
        return 2
    print(f"SavedModel written to {path}  ({json.dumps(bundle.describe())})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
