"""What ships where (issue #24's weight budget; BUILD.md "What ships where"): the runtime wheel carries the .tflite
files, cards and registry only (<= 40 MB of weights), the gifnets-keras-weights distribution (keras_weights/) every
.keras file; a runtime install encodes from its .tflite files alone, and the TensorFlow paths on it name what to
install in one line (exit 2)."""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import checks
from gif_pipeline import encode
from gif_pipeline.weights import registry

SHIPPED = os.path.dirname(registry.__file__)
#: Issue #24: all files the runtime install ships together.
WEIGHT_BUDGET = 40e6


def _setup(path: str, monkeypatch):
    """The ``Distribution`` of setup script ``path``, configured but not run (setuptools' own reading of it)."""
    from distutils.core import run_setup

    import setuptools  # noqa: F401  (first: distutils is setuptools' own)

    monkeypatch.chdir(os.path.dirname(path))
    return run_setup(path, stop_after="init")


def _shipped_files(dist) -> list[str]:
    """Paths of the package data files that ``build_py`` would put in the wheel."""
    cmd = dist.get_command_obj("build_py")
    cmd.ensure_finalized()
    return [os.path.join(src, name) for _, src, _, names in cmd.data_files for name in names]


def _listed() -> list:
    return list(registry._listed(SHIPPED, registry._stamp(os.path.join(SHIPPED, registry.MANIFEST))))


def test_the_runtime_wheel_ships_the_tflite_models_and_no_keras_file(monkeypatch):
    files = _shipped_files(_setup(os.path.join(checks.ROOT, "setup.py"), monkeypatch))
    weights = sorted(os.path.basename(f) for f in files if os.path.dirname(os.path.abspath(f)) == SHIPPED)
    assert not [f for f in weights if f.endswith(".keras")]
    tflite = sorted(e.file for e in _listed() if e.file.endswith(".tflite"))
    assert tflite and set(tflite) <= set(weights)
    assert registry.MANIFEST in weights and all(e.card in weights for e in _listed() if e.file.endswith(".tflite"))
    total = sum(os.path.getsize(os.path.join(SHIPPED, f)) for f in weights)
    assert total <= WEIGHT_BUDGET, f"the runtime wheel's weights are {total / 1e6:.1f} MB"


def test_the_keras_weights_distribution_ships_every_keras_file(monkeypatch):
    main = _setup(os.path.join(checks.ROOT, "setup.py"), monkeypatch)
    dist = _setup(os.path.join(checks.ROOT, "keras_weights", "setup.py"), monkeypatch)
    assert dist.get_name() == "gifnets-keras-weights" and dist.get_version() == main.get_version()
    files = dist.get_command_obj("build_py").weight_files()
    assert sorted(os.path.basename(f) for f in files) == sorted(e.file for e in _listed() if e.file.endswith(".keras"))
    assert dist.packages == [registry.KERAS_PACKAGE]


@pytest.fixture(scope="module")
def runtime_install(tmp_path_factory):
    """The shipped weights folder as the runtime wheel installs it: no .keras file."""
    folder = tmp_path_factory.mktemp("runtime_weights")
    for name in os.listdir(SHIPPED):
        if name.endswith((".tflite", ".md", ".json")):
            shutil.copy(os.path.join(SHIPPED, name), folder / name)
    return folder


def test_a_runtime_install_encodes_from_its_tflite_files_alone(runtime_install, samples, monkeypatch):
    monkeypatch.delenv("GIFNETS_WEIGHTS", raising=False)
    full = {n: encode.encode_image(samples["hopper"], n, backend="litert") for n in (16, 20, 256)}
    sizes, config = registry.palette_sizes(), registry.file_config(registry.shipped_path("palette", 16))
    monkeypatch.setenv("GIFNETS_WEIGHTS", str(runtime_install))
    encode.clear_model_cache()
    try:
        assert registry.missing_keras("palette", "dither") == ["palette_np16.keras", "dither_np16.keras",
                                                               "dither_np64.keras"]
        assert registry.palette_sizes() == sizes  # the heads, from the .tflite entry's recorded config
        recorded = registry.net_config("palette", 16)
        assert recorded and recorded == {k: config[k] for k in registry.RUNTIME_CONFIG_KEYS if k in config}
        for n, want in full.items():
            got = encode.encode_image(samples["hopper"], n, backend="litert")
            assert got.methods == want.methods and np.array_equal(got.palette, want.palette), n
            assert np.array_equal(got.indices, want.indices), n
    finally:
        encode.clear_model_cache()


KERAS_LINE = "which this runtime install lacks: " + registry.KERAS_INSTALL


def test_the_tensorflow_paths_without_the_keras_files_name_what_to_install(runtime_install, monkeypatch):
    from gif_pipeline.cli import compress

    monkeypatch.setenv("GIFNETS_WEIGHTS", str(runtime_install))
    calls = {"--backend tf": (lambda: encode.resolve_backend("tf"), "dither_np16.keras, dither_np64.keras, "
                                                                    "palette_np16.keras"),
             "gifnets compress": (lambda: compress._require_codec("gifnets compress"),
                                  "compress_gan_c2.keras, compress_gan_c4.keras, compress_gan_c8.keras and 3 more"),
             "gifnets restore --interpolate": (
                 lambda: encode.require_tensorflow("gifnets restore --interpolate", ("interp",)), "interp.keras"),
             "the PaletteNet model": (lambda: registry.load("palette", 16), "palette_np16.keras")}
    for what, (call, files) in calls.items():
        with pytest.raises(registry.KerasWeightsNotInstalledError) as e:
            call()
        assert str(e.value) == f"{what} needs the Keras weights ({files}), {KERAS_LINE}"
    compress._require_codec("gifnets compress", explicit="my.keras")  # --model: nothing installed needed


def _cli(folder, args, hide_tf: bool):
    code = "sys.modules['tensorflow'] = None; sys.modules['keras'] = None\n" if hide_tf else ""
    script = f"import sys\n{code}from gif_pipeline import cli\nsys.exit(cli.main({args!r}))"
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=folder,
                          env={**os.environ, "GIFNETS_WEIGHTS": str(folder), "PYTHONPATH": checks.ROOT})


TRAIN = 'pip install "gifnets[train]"'
TF_LOG = ("WARNING: All log messages before absl", "I0000 ", "W0000 ", "E0000 ", "To enable the following")


@pytest.mark.parametrize("args,hide_tf,line", [
    (["encode", "in.png", "-o", "out.gif", "--backend", "tf"], False,
     f"--backend tf needs the Keras weights (dither_np16.keras, dither_np64.keras, palette_np16.keras), {KERAS_LINE}"),
    (["encode", "in.png", "-o", "out.gif", "--backend", "tf"], True,
     f"--backend tf needs TensorFlow, which this install lacks: {TRAIN}; and the Keras weights (dither_np16.keras, "
     f"dither_np64.keras, palette_np16.keras): {registry.KERAS_INSTALL}"),
    (["compress", "in.png", "-o", "out.gcz"], True,
     'gifnets compress needs TensorFlow and constriction, which this install lacks: pip install "gifnets[compress]"; '
     f"and the Keras weights (compress_gan_c2.keras, compress_gan_c4.keras, compress_gan_c8.keras and 3 more): "
     f"{registry.KERAS_INSTALL}"),
    (["restore", "in.gif", "-o", "out.mp4", "--interpolate", "2"], True,
     f"gifnets restore --interpolate needs TensorFlow, which this install lacks: {TRAIN}; and the Keras weights "
     f"(interp.keras): {registry.KERAS_INSTALL}")])
def test_on_a_runtime_install_the_tensorflow_commands_are_one_line_and_exit_2(runtime_install, args, hide_tf, line):
    r = _cli(runtime_install, args, hide_tf)
    assert r.returncode == 2, r.stderr
    # (TensorFlow's own start-up log lines, where it is imported, are not gifnets' to count)
    assert [x for x in r.stderr.splitlines() if not x.startswith(TF_LOG)] == [f"gifnets: error: {line}"], r.stderr


def test_the_keras_weights_package_is_a_second_weights_folder(runtime_install, tmp_path, monkeypatch):
    """gifnets-keras-weights installed beside the wheel: its folder's .keras files are found, verified and load, and
    the .tflite files built from them are not stale."""
    from gif_pipeline.runtime import litert

    extra = tmp_path / "gifnets_keras_weights"
    extra.mkdir()
    shutil.copy(os.path.join(SHIPPED, "dither_np16.keras"), extra / "dither_np16.keras")
    monkeypatch.delenv("GIFNETS_WEIGHTS", raising=False)
    monkeypatch.setattr(registry, "weights_dir", lambda: str(runtime_install))
    monkeypatch.setattr(registry, "_keras_package_dir", lambda: str(extra))
    litert.clear_cache()
    try:
        assert registry.weights_dirs() == [str(runtime_install), str(extra)]
        assert registry.shipped_path("dither", 16) == str(extra / "dither_np16.keras")
        assert registry.entry_for(registry.shipped_path("dither", 16)).sha256  # listed, hence verified on load
        assert registry.missing_keras("dither") == ["dither_np64.keras"]
        assert registry.load("dither", 16).name
        assert "unet" in litert.load("dither", 16).signatures  # the runtime file (the shape-static U-Net)
        with open(extra / "dither_np16.keras", "r+b") as f:  # a replaced file in the second folder is refused
            f.seek(1000)
            byte = f.read(1)
            f.seek(1000)
            f.write(bytes([byte[0] ^ 0xFF]))
        with pytest.raises(registry.WeightsError, match="dither_np16.keras is corrupt or was replaced"):
            registry.load("dither", 16)
    finally:
        litert.clear_cache()
