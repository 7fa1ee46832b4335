"""The compression bench (gif_pipeline/eval/compression.py): tiny untrained compressors on two small photos, and the
summary's choice of the GC model that the classical codecs are compared with."""
import csv
import math
import os

import numpy as np
import pytest
from PIL import Image

import checks

pytest.importorskip("tensorflow")
pytest.importorskip("constriction")


def test_reference_gc_is_the_c4_model_else_the_first():
    from gif_pipeline.eval.compression import reference_gc

    assert reference_gc({"gc_c2": 2, "gc_c4": 4, "gc_c8": 8}) == "gc_c4"
    assert reference_gc({"gc_c8": 8, "gc_c2": 2}) == "gc_c8"
    assert reference_gc({}) is None


def test_summary_compares_the_codecs_with_gc_at_c4(tmp_path):
    from gif_pipeline.eval.compression import Row, summarize

    rows = []
    for image, (v2, v4, webp) in {"a.png": (1.0, 30.0, 20.0), "b.png": (5.0, 2.0, 10.0)}.items():
        rows += [Row(image, "gc_c2", "C=2", 100, 0.0122, 18.0, 0.6, v2, 0.1, 0.1),
                 Row(image, "gc_c4", "C=4", 200, 0.0244, 20.0, 0.7, v4, 0.1, 0.1),
                 Row(image, "webp_lowest", "0", 1000, 0.122, 26.0, 0.9, webp, 0.1, 0.0)]
    text = summarize(rows, str(tmp_path))
    assert "| VMAF - gc_c4's (same photos) | bpp / gc_c4's |" in text
    # a: 30 >= 20 (won), b: 2 < 10: one of two; with gc_c2 as the reference it would be 0 of 2.
    assert "gc_c4's VMAF >= WEBP's smallest file on 1 of 2 photos" in text
    webp = next(line for line in text.splitlines() if line.startswith("| webp_lowest"))
    assert webp.split("|")[8].strip() == f"{((20 - 30) + (10 - 2)) / 2:+.2f}"
    assert os.path.isfile(tmp_path / "summary.md") and os.path.isfile(tmp_path / "bpp_vs_quality.png")


def test_run_writes_a_row_per_method_and_photo(tmp_path):
    import keras

    from gif_pipeline.eval.compression import GRIDS, encode_classical, run
    from gif_pipeline.models.compress.codec import Codec
    from gif_pipeline.models.compress.config import CompressionConfig
    from gif_pipeline.models.compress.model import Compressor

    photos = tmp_path / "photos"
    photos.mkdir()
    hopper = Image.open(os.path.join(checks.FIXTURES, "hopper_64.png")).convert("RGB")
    hopper.save(photos / "a.png")
    hopper.transpose(Image.FLIP_LEFT_RIGHT).save(photos / "b.png")
    keras.utils.set_random_seed(3)
    models = {"gc_c4": Codec(Compressor(CompressionConfig.tiny(channels=4)), gan=True),
              "mse_c2": Codec(Compressor(CompressionConfig.tiny(channels=2)), gan=False)}
    out = tmp_path / "out"
    rows = run(str(photos), models, str(out), html_examples=1, use_vmaf=False, codecs=("jpeg",), progress=False)
    by = {(r.image, r.method): r for r in rows}
    for image in ("a.png", "b.png"):
        for method in ("gc_c4", "mse_c2", "jpeg_lowest"):
            r = by[(image, method)]
            assert r.bpp == pytest.approx(8 * r.bytes / 64 ** 2) and math.isfinite(r.psnr) and math.isnan(r.vmaf)
        ref = np.asarray(Image.open(photos / image).convert("RGB"))
        assert by[(image, "jpeg_lowest")].bytes == min(len(encode_classical("jpeg", ref, q)[0]) for q in GRIDS["jpeg"])
        # the untrained tiny models' files are far below JPEG's smallest: no "matched" JPEG row
        assert (image, "jpeg_matched") not in by
        assert by[(image, "gc_c4")].setting == "C=4" and by[(image, "mse_c2")].setting == "C=2"
    with open(out / "results.csv") as f:
        assert len(list(csv.DictReader(f))) == len(rows)
    assert os.path.isfile(out / "images" / "a_original.png") and os.path.isfile(out / "images" / "a_gc_c4.png")


def test_the_page_pairs_gc_and_mse_per_c_then_the_codecs():
    from gif_pipeline.eval.compression import page_columns

    run_order = ["gc_c2", "gc_c4", "gc_c8", "mse_c2", "mse_c4", "mse_c8", "jpeg", "webp", "avif", "gc_c2"]
    assert page_columns(run_order) == ["gc_c2", "mse_c2", "gc_c4", "mse_c4", "gc_c8", "mse_c8", "jpeg", "webp", "avif"]
    assert page_columns(["mine", "mse_c4", "gc_c4", "webp"]) == ["gc_c4", "mse_c4", "mine", "webp"]
