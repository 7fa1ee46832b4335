"""Shared fixtures: the small sample photos in tests/fixtures, and tiny untrained networks installed as a weights
folder through ``$GIFNETS_WEIGHTS`` (the shipped weights stay untouched).

Markers: ``slow`` (long; run with ``-m slow``) and ``integration`` (subprocesses: the CLI, trainers, export,
servers). ``python -m pytest -m "not slow and not integration"`` is the fast loop.
"""
from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

import checks

DATA = checks.FIXTURES
SAMPLE_NAMES = ("hopper", "hubble", "retina")


def load_sample(name: str, h: int = 64, w: int = 64) -> np.ndarray:
    """uint8 ``[h, w, 3]``: the top-left corner of a 64x64 sample photo (hopper, hubble, retina)."""
    rgb = np.asarray(Image.open(os.path.join(DATA, f"{name}_64.png")).convert("RGB"))
    return np.ascontiguousarray(rgb[:h, :w])


@pytest.fixture(scope="session")
def data_dir() -> str:
    return DATA


@pytest.fixture(scope="session")
def samples() -> dict:
    """name -> uint8 ``[64, 64, 3]`` sample photo."""
    return {name: load_sample(name) for name in SAMPLE_NAMES}


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory):
    """A weights folder with tiny untrained networks for Np = 8: ``palette_np8.keras`` and ``dither_np8.keras``."""
    from gif_pipeline.models.gifnets.config import DitherNetConfig, PaletteNetConfig
    from gif_pipeline.models.gifnets.dither_net import build_dither_net
    from gif_pipeline.models.gifnets.palette_net import PaletteNet

    import keras

    keras.utils.set_random_seed(8)  # the same tiny networks in every run and every xdist worker
    folder = tmp_path_factory.mktemp("weights")
    PaletteNet(PaletteNetConfig(num_colors=8, depth_multiplier=0.1, min_depth=8)).save(folder / "palette_np8.keras")
    build_dither_net(DitherNetConfig(block_channels=(4, 8, 8, 8, 8), bottleneck_channels=(8, 8))).save(
        folder / "dither_np8.keras")
    return folder


@pytest.fixture
def use_tiny_weights(tiny_weights, monkeypatch):
    """``$GIFNETS_WEIGHTS`` = :func:`tiny_weights` for one test, with the loaded-network caches cleared. The tiny
    networks have no LiteRT models, so these tests run the Keras path (``$GIFNETS_BACKEND=tf``; tests/runtime builds
    the tiny runtime models and compares the two)."""
    from gif_pipeline import encode

    monkeypatch.setenv("GIFNETS_WEIGHTS", str(tiny_weights))
    monkeypatch.setenv("GIFNETS_BACKEND", "tf")
    encode.clear_model_cache()
    yield tiny_weights
    encode.clear_model_cache()


#: Test folders whose every test runs a subprocess or a whole tool (trainers, export, benchmark scripts, the
#: distributed-training checks): the ``integration`` marker goes on each of them.
INTEGRATION_DIRS = ("trainers", "export", "benchmarks", "training")
#: A test elsewhere is ``integration`` when its code starts a process (the CLI as a user runs it, a server).
_PROCESS_CALLS = ("subprocess.", "run_cli(", "run_trainer(", "_run(", "Popen(", "rest_server", "grpc_server")


def pytest_collection_modifyitems(config, items):
    import inspect

    tests_dir = os.path.dirname(os.path.abspath(__file__))
    for item in items:
        folder = os.path.relpath(str(item.path), tests_dir).split(os.sep)[0]
        try:
            source = inspect.getsource(item.function)
        except (OSError, TypeError, AttributeError):
            source = ""
        uses = set(getattr(item, "fixturenames", ()))
        if folder in INTEGRATION_DIRS or any(call in source for call in _PROCESS_CALLS) \
                or uses & {"rest_server", "grpc_server", "exported"}:
            item.add_marker(pytest.mark.integration)
