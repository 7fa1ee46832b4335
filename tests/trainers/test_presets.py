"""Named training experiments (gif_pipeline/models/gifnets/presets.py) as the trainers read them."""
import json
import os
import subprocess
import sys

import pytest

import checks
from gif_pipeline.models.gifnets.presets import TRAINING_PRESETS

# In a fresh process (absl flags are global): load the trainer's flags, then for each command line (one JSON
# list a line of stdin) apply its preset and print the flag values it leaves, or the usage error.
PROBE = """
import json, sys
from absl import app, flags
import trainers.{trainer} as t
from trainers import common
for line in sys.stdin:
    flags.FLAGS.unparse_flags()
    flags.FLAGS(["x", *json.loads(line)])
    try:
        common.apply_preset("{trainer}")
    except app.UsageError as e:
        print(json.dumps({{"error": str(e)}}))
        continue
    print(json.dumps({{name: flags.FLAGS[name].value for name in flags.FLAGS}}, default=str))
"""


def probe(trainer, *command_lines):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=checks.ROOT)
    r = subprocess.run([sys.executable, "-c", PROBE.format(trainer=trainer)], cwd=checks.ROOT, env=env,
                       input="".join(json.dumps(list(c)) + "\n" for c in command_lines),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    return [json.loads(line) for line in r.stdout.strip().splitlines()[-len(command_lines):]]


@pytest.mark.parametrize("trainer", sorted(TRAINING_PRESETS))
def test_every_preset_sets_real_flags_and_the_command_line_wins(trainer):
    names = sorted(TRAINING_PRESETS[trainer])
    results = probe(trainer, *[(f"--preset={name}", "--steps=7") for name in names])
    for name, got in zip(names, results):
        values = TRAINING_PRESETS[trainer][name]
        assert "error" not in got, got
        for flag, value in values.items():
            assert flag in got, f"{trainer} --preset={name}: no flag --{flag}"
            if flag != "steps":
                assert got[flag] == value, (name, flag)
        assert got["steps"] == 7  # given on the command line: the preset's value does not replace it


def test_an_unknown_preset_names_the_known_ones():
    (got,) = probe("train_dither", ("--preset=best_ever",))
    assert "--preset=best_ever" in got["error"] and "shipped_np16" in got["error"] and "shipped_np64" in got["error"]


def test_trainers_of_different_families_import_into_one_process():
    """The tests import several trainers into one xdist worker; absl refuses a flag defined twice, so each
    family's trainer must coexist with GIFnets' (CI failed once on --init_from, train_palette + train_compression)."""
    modules = ["train_palette", "train_banding", "train_compression", "train_interp", "train_ccdnet",
               "train_gif_classifier", "make_gif_pairs"]
    code = "import sys; sys.path.insert(0, '.')\n" + "".join(f"import trainers.{m}\n" for m in modules)
    code += "from absl import flags; print(flags.FLAGS['init_from'].default, flags.FLAGS['steps'].default)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=checks.ROOT, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split()[-2:] == ["None", "1500"], r.stdout  # the defaults of the last trainer with common flags
