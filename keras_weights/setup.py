"""gifnets-keras-weights: the ``.keras`` weights of gifnets, which the runtime wheel leaves out (BUILD.md, "What ships
where"). Training, export, ``--backend tf``, ``gifnets compress`` / ``interpolate`` and ``restore --interpolate`` read
them; a checkout's ``pip install -e .`` has them already. Build it from a gifnets checkout:

    pip install ./keras_weights          # beside `pip install ".[train]"` (or [compress])

The wheel holds ``gifnets_keras_weights/*.keras``: every ``.keras`` file of ``../gif_pipeline/weights/`` at build
time (the registry, ``gif_pipeline/weights/registry.json``, checks their sha256 when it loads them).
"""
import glob
import os
import re

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(HERE, os.pardir, "gif_pipeline", "weights")
PACKAGE = "gifnets_keras_weights"


class BuildWithWeights(build_py):
    """build_py that also copies the checkout's ``.keras`` files into the package."""

    def weight_files(self) -> list[str]:
        files = sorted(glob.glob(os.path.join(SOURCE, "*.keras")))
        if not files:
            raise SystemExit(f"no .keras files in {os.path.normpath(SOURCE)}: build gifnets-keras-weights from a "
                             "gifnets checkout (pip install ./keras_weights)")
        return files

    def run(self):
        super().run()
        dest = os.path.join(self.build_lib, PACKAGE)
        self.mkpath(dest)
        for path in self.weight_files():
            self.copy_file(path, os.path.join(dest, os.path.basename(path)))

    def get_outputs(self, include_bytecode=1):
        dest = os.path.join(self.build_lib, PACKAGE)
        return super().get_outputs(include_bytecode) + [os.path.join(dest, os.path.basename(p))
                                                         for p in self.weight_files()]


with open(os.path.join(HERE, os.pardir, "setup.py"), encoding="utf-8") as f:  # the same version as gifnets
    VERSION = re.search(r'version="([^"]+)"', f.read()).group(1)

setup(
    name="gifnets-keras-weights",
    version=VERSION,
    description="The .keras weights of gifnets (training, export, the TensorFlow paths); the runtime wheel has the "
                ".tflite models only",
    python_requires=">=3.10",
    packages=[PACKAGE],
    cmdclass={"build_py": BuildWithWeights},
)
