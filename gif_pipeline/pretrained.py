"""Where trained models are found: an explicit path, the weights shipped in the package, or the
output of the trainer that makes them (``runs/``).

Shipped files live in ``gif_pipeline/weights/`` (or the folder in ``$GIFNETS_WEIGHTS``) as ``palette_np{NP}.keras``, ``dither_np{NP}.keras``
and ``banding.keras``, each with a model card (``*.md``) beside it.
"""
from __future__ import annotations

import functools
import json
import os
import zipfile
from importlib import resources

from gif_pipeline.errors import MissingPrerequisiteError

KINDS = {
    # kind: (shipped file name, trainer output, command that makes it)
    "palette": ("palette_np{np}.keras", "runs/palette_np{np}/palette_net.keras", "trainers/train_palette --np={np}"),
    "dither": ("dither_np{np}.keras", "runs/dither_np{np}/dither_net.keras", "trainers/train_dither --np={np}"),
    "banding": ("banding.keras", "runs/banding/banding_net.keras", "trainers/train_banding"),
}


def weights_dir() -> str:
    """The shipped weights, or the folder named by the ``GIFNETS_WEIGHTS`` environment variable."""
    return os.environ.get("GIFNETS_WEIGHTS") or str(resources.files("gif_pipeline") / "weights")


def shipped_path(kind: str, np: int | None = None) -> str:
    return os.path.join(weights_dir(), KINDS[kind][0].format(np=np))


def find_model(kind: str, np: int | None = None, explicit: str | None = None, search_runs: bool = True) -> str:
    """Path of a trained ``kind`` model, or MissingPrerequisiteError naming the command to run first.

    Order: ``explicit`` (must exist), the shipped weights, then the trainer's default output.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown model kind {kind!r}; expected one of {sorted(KINDS)}")
    shipped, run_output, command = (s.format(np=np) for s in KINDS[kind])
    if explicit:
        if not os.path.exists(explicit):
            raise MissingPrerequisiteError(f"no {kind} model at {explicit}")
        return explicit
    candidates = [shipped_path(kind, np)] + ([run_output] if search_runs else [])
    for path in candidates:
        if os.path.exists(path):
            return path
    what = f"{kind} model" + (f" for Np={np}" if np is not None else "")
    raise MissingPrerequisiteError(f"no trained {what} (looked in {', '.join(candidates)}); run `{command}` first")


def shipped_colors(kind: str) -> list[int]:
    """The Np values with shipped weights of ``kind`` (``palette`` or ``dither``)."""
    prefix = f"{kind}_np"
    names = os.listdir(weights_dir()) if os.path.isdir(weights_dir()) else []
    return sorted(int(n[len(prefix):-len(".keras")]) for n in names
                  if n.startswith(prefix) and n.endswith(".keras") and n[len(prefix):-len(".keras")].isdigit())


def palette_sizes() -> dict[int, int]:
    """Palette sizes the shipped PaletteNets give from a head of their own, each mapped to the Np of the
    file that gives it: every file's Np, and its extra slot heads' (``PaletteNetConfig.head_sizes``).
    Reads the files' configs only (cached while the folder's files are unchanged)."""
    folder = weights_dir()
    stamp = tuple((np, os.path.getmtime(shipped_path("palette", np))) for np in shipped_colors("palette"))
    return dict(_palette_sizes(folder, stamp))


@functools.lru_cache(maxsize=8)
def _palette_sizes(folder: str, stamp: tuple) -> tuple:
    sizes = {np: np for np, _ in stamp}  # a file of a size's own comes first
    for np, _ in stamp:
        try:
            with zipfile.ZipFile(os.path.join(folder, KINDS["palette"][0].format(np=np))) as z:
                config = json.loads(z.read("config.json"))["config"]["config"]
        except (OSError, KeyError, ValueError, zipfile.BadZipFile):
            continue  # loading the file gives the error
        for size in config.get("head_sizes") or ():
            sizes.setdefault(int(size), np)
    return tuple(sorted(sizes.items()))


def load(kind: str, np: int | None = None, explicit: str | None = None, search_runs: bool = True):
    """Load a trained model (registering gifnets' custom layers first)."""
    import keras

    from gif_pipeline.models import banding_net, dither_net, palette_net  # noqa: F401  (registration)

    path = find_model(kind, np, explicit, search_runs=search_runs)
    return keras.saving.load_model(path, compile=False)
