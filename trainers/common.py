"""What every training entry script shares: the common flags, presets, and the flag values handed to the
flag-free loop of :mod:`gif_pipeline.training.loop` (checkpoints that survive a kill, a clear stop on NaN,
progress with images/s, TensorBoard, the best validation epoch's weights, ``config.json``).

Each stage (``train_palette``, ``train_banding``, ``train_dither``, ``train_joint``) builds its model and
data from its flags, then calls the loop. ``--preset=NAME`` takes a named experiment's flag values
(:data:`gif_pipeline.models.gifnets.presets.TRAINING_PRESETS`); flags given on the command line override them.
"""
from __future__ import annotations

import json
import os

from absl import flags, logging

from gif_pipeline.training.loop import (  # noqa: F401
    ImageSummaries,
    StopOnNaN,
    Throughput,
    fit,
    get_strategy,
    prepare_model_dir,
    save_model_atomically,
    write_run_record,
)

FLAGS = flags.FLAGS


def define_common_flags(default_model_dir: str, default_steps: int, default_batch_size: int,
                        default_learning_rate: float):
    """The flags every stage takes (issue #5), with the stage's defaults. A second trainer imported into the same
    process (the tests import several) only sets its defaults: absl refuses a flag defined twice."""
    if "data" in FLAGS:
        for name, value in (("model_dir", default_model_dir), ("steps", default_steps),
                            ("batch_size", default_batch_size), ("learning_rate", default_learning_rate)):
            FLAGS.set_default(name, value)
        return
    flags.DEFINE_multi_string("data", None, "Image folder(s) (recursive), TFRecord files, or 'celeb_a:DATA_DIR' "
                              "for TFDS CelebA with a manual directory. Default: the sample images in the package.")
    flags.DEFINE_string("model_dir", default_model_dir, "Where checkpoints, TensorBoard logs and weights go.")
    flags.DEFINE_integer("steps", default_steps, "Total training steps.")
    flags.DEFINE_integer("epochs", None, "Split --steps into this many epochs (validation and early stopping "
                         "run once per epoch). Default: one epoch per --checkpoint_every steps.")
    flags.DEFINE_integer("batch_size", default_batch_size, "Global batch size.")
    flags.DEFINE_float("learning_rate", default_learning_rate, "Initial learning rate (Adam).")
    flags.DEFINE_integer("image_size", 256, "Training crop size (paper: 256).")
    flags.DEFINE_integer("seed", None, "Seed for weights and data order; with a seed, runs are repeatable.")
    flags.DEFINE_enum("strategy", "default", ["default", "mirrored", "multi_worker", "tpu"],
                      "tf.distribute strategy. multi_worker reads TF_CONFIG; tpu needs --tpu.")
    flags.DEFINE_string("tpu", None, "TPU name or address for --strategy=tpu.")
    flags.DEFINE_integer("logical_cpus", 0, "Split the CPU into this many logical devices (to try "
                         "--strategy=mirrored on one machine); 0 keeps one.")
    flags.DEFINE_bool("mixed_precision", False, "Compute in float16/bfloat16 with float32 variables.")
    flags.DEFINE_bool("resume", True, "Resume from --model_dir's backup if a run was interrupted; "
                      "--noresume starts over.")
    flags.DEFINE_integer("checkpoint_every", 100, "Steps between checkpoints.")
    flags.DEFINE_integer("image_summary_every", 0, "Steps between TensorBoard image summaries "
                         "(0: once per epoch).")
    flags.DEFINE_integer("validation_steps", 2, "Validation batches per epoch (0: no validation).")
    flags.DEFINE_bool("augment", True, "Apply the stage's augmentations (GIFnets supplement).")
    flags.DEFINE_bool("cache", False, "Cache decoded images in memory (small data sets).")
    flags.DEFINE_string("preset", None, "A named experiment (gif_pipeline/models/gifnets/presets.py): its flag "
                        "values, overridden by the flags given on the command line.")


def build_inputs(augment: str | None):
    """Train and validation datasets from ``--data`` (or the embedded samples), per the flags."""
    from gif_pipeline.data import images as data

    config = data.DataConfig(image_size=FLAGS.image_size, batch_size=FLAGS.batch_size, seed=FLAGS.seed,
                             cache=FLAGS.cache)
    sources = FLAGS.data or None
    train = data.build_dataset(sources, config, split="train", augment=augment if FLAGS.augment else None)
    val = None
    if FLAGS.validation_steps:
        # Validation always uses a fixed seed: the same centre crops every epoch.
        val = data.build_dataset(sources, config.replace(seed=FLAGS.seed or 0), split="val", repeat=True,
                                 drop_remainder=False)
    return train, val


def apply_preset(trainer: str, presets: dict | None = None) -> dict:
    """Set the flags of ``--preset`` (a name in ``presets[trainer]``: GIFnets' ``TRAINING_PRESETS`` unless a family
    passes its own) that the command line left unset; returns the preset's values. An unknown name is a usage
    error listing the known ones."""
    from absl import app

    if presets is None:
        from gif_pipeline.models.gifnets.presets import TRAINING_PRESETS as presets
    if not FLAGS.preset:
        return {}
    known = presets.get(trainer, {})
    if FLAGS.preset not in known:
        raise app.UsageError(f"--preset={FLAGS.preset}: {trainer} knows {', '.join(sorted(known)) or 'no presets'}")
    values = known[FLAGS.preset]
    for name, value in values.items():
        if not FLAGS[name].present:  # the command line wins
            FLAGS[name].value = value
    logging.info("--preset=%s: %s", FLAGS.preset, values)
    return values


def setup(seed: int | None, mixed_precision: bool):
    """Logical CPUs, seeds and precision policy, before TensorFlow's runtime starts (from the flags)."""
    from gif_pipeline.training import loop

    loop.setup(seed, mixed_precision, FLAGS.logical_cpus)


def run_record(stage: str, weights_name: str, model_config: dict) -> dict:
    """What ``config.json`` says of a run: stage, weights file, model config and the trainer's flags.

    :func:`finish` writes it when a run ends. ``train_palette`` and ``train_dither`` also write it
    when training starts (``"running": true``), so ``trainers/ship_model`` can evaluate an
    unfinished run from its ``best.weights.h5``.
    """
    from gif_pipeline.training import loop

    flag_values = {f.name: f.value for module, fl in FLAGS.flags_by_module_dict().items()
                   if "trainers" in module or module == "__main__" for f in fl}
    return loop.run_record(stage, weights_name, model_config, flag_values)


def run_weights(run: str, finished_name: str) -> tuple[str, dict | None, bool]:
    """Which weights of a trainer's ``--model_dir`` to ship, for the ``ship_*`` scripts.

    The run's finished model file (``finished_name``), unless it is absent or ``config.json`` still says
    ``"running"`` (a run stopped, or one started again over an old run); then ``best.weights.h5``, the best
    validation epoch's weights, which the caller loads into the architecture of ``config.json``'s ``"model"``.
    Returns ``(path, record, finished)``; ``record`` is ``config.json`` (None if the run has none). SystemExit
    with one line if neither file is there.
    """
    record = None
    config_path = os.path.join(run, "config.json")
    if os.path.isfile(config_path):
        with open(config_path) as f:
            record = json.load(f)
    finished = os.path.join(run, finished_name)
    if os.path.isfile(finished) and not (record or {}).get("running"):
        return finished, record, True
    best = os.path.join(run, "best.weights.h5")
    if not os.path.isfile(best):
        raise SystemExit(f"{run}: neither {finished_name} (a finished run) nor best.weights.h5")
    if record is None:
        raise SystemExit(f"{run}: best.weights.h5 without the config.json that says how to build its model")
    return best, record, False


def finish(model, model_dir: str, weights_name: str, *, stage: str, model_config: dict, history,
           extra: dict | None = None):
    """Save the trained model and ``config.json``; exit non-zero if training hit NaN."""
    from gif_pipeline.training import loop

    return loop.finish(model, model_dir, weights_name, stage=stage, record=run_record(stage, weights_name, model_config),
                       history=history, extra=extra)
