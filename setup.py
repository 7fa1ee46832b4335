"""gifnets: a differentiable GIF encoder (Yoo et al., CVPR 2020) with classical baselines."""
from setuptools import Extension, find_packages, setup

_TRAIN = ["tensorflow>=2.21,<2.22", "keras>=3.12", "absl-py>=2.0", "tensorboard>=2.20", "scipy>=1.11",
          "imageio-ffmpeg>=0.5", "tensorflow-datasets", "importlib_resources",
          "imagequant"]  # imagequant: the restore training pairs (libimagequant palettes)
_BENCH = ["scipy>=1.11", "imageio-ffmpeg>=0.5", "imagequant", "matplotlib>=3.8", "scikit-image>=0.22"]

setup(
    name="gifnets",
    version="0.1.0",
    description="GIFnets: learned palettes and dithering for GIF encoding, with classical baselines",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["gif_pipeline", "gif_pipeline.*"]),
    # The runtime's files only: the .tflite models, cards and registry. The .keras weights (training, export, the
    # TensorFlow paths) are the gifnets-keras-weights distribution, keras_weights/ (BUILD.md, "What ships where").
    package_data={
        "gif_pipeline": ["samples/*.png", "samples/*.jpg", "samples/*.txt", "weights/*.tflite", "weights/*.md",
                         "weights/*.json"],
    },
    # The runtime: `gifnets encode` and the Python encode API on LiteRT + numpy (no TensorFlow, no Keras).
    install_requires=[
        "ai-edge-litert>=2.0",
        "numpy>=1.26",
        "Pillow>=10.0",
        "threadpoolctl>=3.1",
        "tqdm>=4.60",
    ],
    extras_require={
        # Training, export, serving and the Keras path (--backend tf): TensorFlow and what it brings.
        "train": _TRAIN,
        "test": _TRAIN + _BENCH + ["pytest>=8", "pytest-xdist>=3", "ruff>=0.6", "tensorflow-serving-api>=2.21,<2.22",
                 "constriction>=0.4"],
        "export": _TRAIN,
        "serving": _TRAIN + ["tensorflow-serving-api>=2.21,<2.22"],
        "bench": _BENCH,
        # gifnets compress / decompress (issue #28): the range coder; its bench adds HEIC and JPEG XL.
        "compress": _TRAIN + ["constriction>=0.4"],
        "bench-compress": _BENCH + ["constriction>=0.4", "pillow-heif>=0.16", "imagecodecs>=2024.1"],
        # Video input of `gifnets encode` (mp4, webm, mov, ...): ffmpeg's binary, as a wheel.
        "video": ["imageio-ffmpeg>=0.5"],
        "tfds": ["tensorflow-datasets", "importlib_resources"],
    },
    entry_points={"console_scripts": ["gifnets=gif_pipeline.cli:main"]},
    # The error diffusion's raster loop in C (loaded with ctypes). Optional: without a C compiler the install goes on
    # and `ed` runs its NumPy wavefronts (the same dither, slower).
    ext_modules=[Extension("gif_pipeline.quant._edkernel", ["gif_pipeline/quant/_edkernel.c"],
                           extra_compile_args=["-O3", "-ffp-contract=off"], optional=True)],
)
