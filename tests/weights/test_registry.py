"""The weight registry (gif_pipeline/weights/registry.py): entries, sha256 checks, one clear error per bad file,
and the one place that decides which network serves a palette size."""
import json
import os
import shutil

import pytest

from gif_pipeline.errors import MissingPrerequisiteError
from gif_pipeline.weights import registry


@pytest.fixture
def shipped_dir():
    folder = os.path.join(os.path.dirname(registry.__file__))
    assert os.path.isfile(os.path.join(folder, registry.MANIFEST))
    return folder


def test_every_shipped_file_is_in_the_registry_with_its_sha256_and_card(shipped_dir, monkeypatch):
    monkeypatch.delenv("GIFNETS_WEIGHTS", raising=False)
    files = sorted(f for f in os.listdir(shipped_dir)
                   if f.endswith((".keras", ".tflite")) or (f.endswith(".json") and f != registry.MANIFEST))
    listed = {e.file: e for e in registry.entries()}
    assert sorted(listed) == files and files
    for name, entry in listed.items():
        path = os.path.join(shipped_dir, name)
        assert entry.sha256 == registry.sha256(path), name
        assert entry.card and os.path.isfile(os.path.join(shipped_dir, entry.card))
        stem, ext = name.rsplit(".", 1)
        assert entry.train and entry.evaluate and entry.name == f"{entry.family}/{stem}" + ("_tflite" if ext == "tflite" else "")
        registry.verify(path)  # passes
        if ext == "tflite":  # a runtime model, built from the registry's .keras file of today
            assert entry.source == f"{stem}.keras" and entry.source_sha256 == listed[entry.source].sha256, name
    assert registry.shipped_colors("palette") == [16] and registry.shipped_colors("dither") == [16, 64]
    assert sorted(registry.palette_sizes()) == [16, 32, 64, 128, 256]


def test_which_network_serves_each_size_is_decided_by_the_registry(monkeypatch):
    monkeypatch.delenv("GIFNETS_WEIGHTS", raising=False)
    assert registry.palette_net_for(16) == (16, "exact") and registry.palette_net_for(64) == (64, "exact")
    assert registry.palette_net_for(20) == (32, "prune")  # the next larger head, cut to its most used colours
    assert registry.palette_file_np(256) == 16  # the 256-colour head lives in the Np = 16 file
    assert [registry.dither_net_for(n) for n in (2, 16, 17, 64, 200)] == [16, 16, 64, 64, 64]


def _copy_weights(src: str, dest, names):
    dest.mkdir()
    for name in names:
        shutil.copy(os.path.join(src, name), dest / name)
    return dest


def test_a_corrupt_or_replaced_file_is_one_clear_error(shipped_dir, tmp_path, monkeypatch):
    folder = _copy_weights(shipped_dir, tmp_path / "w", ["banding.keras", "banding.md", registry.MANIFEST])
    monkeypatch.setenv("GIFNETS_WEIGHTS", str(folder))
    with open(folder / "banding.keras", "r+b") as f:  # one flipped byte
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(registry.WeightsError, match="banding.keras is corrupt or was replaced.*sha256.*gifnets/banding"):
        registry.load("banding")


def test_an_unloadable_file_outside_the_registry_is_one_clear_error(tmp_path, monkeypatch):
    (tmp_path / "dither_np8.keras").write_bytes(b"PK\x03\x04 not really a zip")
    monkeypatch.setenv("GIFNETS_WEIGHTS", str(tmp_path))
    assert [e.file for e in registry.entries("dither")] == ["dither_np8.keras"]  # found by name, unverified
    with pytest.raises(registry.WeightsError, match="cannot load the dither model .*dither_np8.keras"):
        registry.load("dither", 8)
    with pytest.raises(MissingPrerequisiteError, match="trainers/train_dither --np=4"):
        registry.load("dither", 4, search_runs=False)


def test_a_registry_naming_an_unknown_kind_or_unreadable_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("GIFNETS_WEIGHTS", str(tmp_path))
    (tmp_path / registry.MANIFEST).write_text(json.dumps({"format": 1, "entries": [
        {"name": "x/y", "family": "x", "kind": "teleporter", "file": "y.keras"}]}))
    with pytest.raises(registry.WeightsError, match="unknown kinds \\['teleporter'\\]"):
        registry.entries()
    (tmp_path / registry.MANIFEST).write_text("{not json")
    with pytest.raises(registry.WeightsError, match="not a readable weight registry"):
        registry.entries()


def test_record_adds_an_entry_with_the_files_sha256(shipped_dir, tmp_path, monkeypatch):
    folder = _copy_weights(shipped_dir, tmp_path / "w", ["banding.keras"])
    monkeypatch.setenv("GIFNETS_WEIGHTS", str(folder))
    entry = registry.Entry("gifnets/banding", "gifnets", "banding", "banding.keras", train="trainers/train_banding")
    registry.record(entry)
    registry.record(entry)  # replaces, does not repeat
    rows = json.loads((folder / registry.MANIFEST).read_text())["entries"]
    assert len(rows) == 1 and rows[0]["sha256"] == registry.sha256(str(folder / "banding.keras"))
    assert registry.entries()[0].sha256 == rows[0]["sha256"]
