"""The restore bench (gif_pipeline/eval/restore.py) end to end on one small photo and tiny untrained networks."""
import csv
import os

import numpy as np
from PIL import Image

import checks


def test_prepare_ccdnet_summarize(tmp_path, monkeypatch):
    import keras

    from gif_pipeline import restore
    from gif_pipeline.eval import restore as bench
    from gif_pipeline.models.restore.ccdnet import build_ccdnet
    from gif_pipeline.models.restore.classifier import build_classifier
    from gif_pipeline.models.restore.config import CCDNetConfig, ClassifierConfig

    keras.utils.set_random_seed(0)
    weights = tmp_path / "weights"
    weights.mkdir()
    for kind in ("plain", "dithered"):
        build_ccdnet(CCDNetConfig.tiny(residual=True)).save(weights / f"ccdnet_{kind}.keras")
    build_classifier(ClassifierConfig.tiny()).save(weights / "gif_classifier.keras")
    monkeypatch.setenv("GIFNETS_WEIGHTS", str(weights))
    restore.clear_model_cache()
    bench._NETS.clear()
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.open(os.path.join(checks.FIXTURES, "hopper_64.png")).convert("RGB").save(photos / "a.png")
    out = str(tmp_path / "out")
    bench.prepare(str(photos), out, colors=(32,), encoders=["pillow-mediancut"], log=lambda s: None)
    bench.run(out, log=lambda s: None)
    rows = bench.summarize(out)
    restore.clear_model_cache()
    bench._NETS.clear()
    methods = {r["method"] for r in rows}
    assert methods == set(bench.RESTORERS) | set(bench.CCDNET)
    assert len(rows) == 2 * len(methods)  # plain and Floyd-Steinberg
    for r in rows:
        if r["method"] == "gif":
            assert r["gain_psnr"] == 0
        if r["method"].startswith("ccdnet"):
            # fresh residual networks return the GIF itself (zero output convs)
            assert abs(r["gain_psnr"]) < 0.05 and r["routed"].split(":")[0] in ("plain", "dithered")
        if r["method"] == "gauss1.0":
            assert r["gain_psnr"] != 0
    saved = list(csv.DictReader(open(os.path.join(out, "results.csv"))))
    assert len(saved) == len(rows)
    summary = open(os.path.join(out, "summary.md")).read()
    assert "Classifier routing" in summary and "ccdnet-2" in summary
    page = open(os.path.join(out, "index.html")).read()
    assert page.count("<table>") == 2 and np.all([os.path.exists(os.path.join(out, "img", f)) for f in
                                                  os.listdir(os.path.join(out, "img"))])
