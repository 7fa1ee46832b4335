"""The flag-free training functions of the restore family (called by trainers/train_ccdnet and
trainers/train_gif_classifier, which read the flags, and by the tests with tiny configs)."""
from __future__ import annotations

import os

from absl import logging

CCDNET_WEIGHTS = "ccdnet.keras"
CLASSIFIER_WEIGHTS = "gif_classifier.keras"


def psnr_metric(target, estimates):
    """PSNR (dB, images in [-1, 1]) of the last step's estimate (logged as ``psnr_metric``)."""
    from gif_pipeline.models.restore.training import last_step_psnr

    return last_step_psnr(target, estimates)


def train_ccdnet(strategy, config, loss_config, train_ds, val_ds, *, model_dir: str, steps: int, learning_rate: float,
          batch_size: int, stage: int = 1, unroll: int = 3, step1_from: str | None = None, epochs=None,
          checkpoint_every: int = 250, validation_steps: int = 0, record: dict | None = None, image_batch=None,
          image_summary_every: int = 0, resume: bool = True, init_from: str | None = None,
          discriminator_config=None, d_learning_rate: float = 2e-4):
    """Build and fit CCDNet's stage-``stage`` training model (no flags read); save ``ccdnet.keras`` and
    ``config.json`` in ``model_dir``; return its path. ``init_from``: a trained CCDNet (``ccdnet.keras``) whose
    stage-``stage`` U-Net (step 1, or the update net) the run starts from (a longer or second run; same width).
    With ``loss_config.adversarial_weight`` > 0 a PatchGAN (``discriminator_config``; learning rate
    ``d_learning_rate``) trains beside it (:class:`gif_pipeline.models.restore.training.CCDNetGANTrainer`)."""
    import keras

    from gif_pipeline.models.restore import ccdnet
    from gif_pipeline.models.restore.losses import ccdnet_loss
    from gif_pipeline.training import loop

    loop.prepare_model_dir(model_dir, resume)
    with strategy.scope():
        if stage == 1:
            step1 = ccdnet.build_step_net(config, 3, "step1")
            model = ccdnet.compose(step1, None, 1, all_steps=True)
            first = 0
        else:
            if not step1_from:
                raise SystemExit("train_ccdnet: stage 2 needs --step1_from (the stage-1 run's ccdnet.keras)")
            step1, _ = ccdnet.parts(keras.saving.load_model(step1_from, compile=False))
            step1.trainable = False
            update = ccdnet.build_step_net(config, 12, "update")
            model = ccdnet.compose(step1, update, unroll, all_steps=True)
            first = 1
        if init_from:
            _init_from(model, init_from, stage)
        schedule = keras.optimizers.schedules.CosineDecay(learning_rate, max(1, steps), alpha=0.05)
        adversarial = loss_config.adversarial_weight > 0
        if adversarial:
            from gif_pipeline.models.restore.config import DiscriminatorConfig
            from gif_pipeline.models.restore.discriminator import build_discriminator
            from gif_pipeline.models.restore.training import CCDNetGANTrainer

            discriminator_config = discriminator_config or DiscriminatorConfig()
            trainer = CCDNetGANTrainer(model, build_discriminator(discriminator_config), loss_config,
                                       first_step=first, d_learning_rate=d_learning_rate)
            trainer.compile(optimizer=keras.optimizers.Adam(schedule))
        else:
            trainer = model
            model.compile(optimizer=keras.optimizers.Adam(schedule),
                          loss=lambda y, p: ccdnet_loss(y, p, loss_config, first_step=first),
                          metrics=[psnr_metric])
    extra = []
    if image_batch is not None:
        def make_images(batch):
            inputs, target = batch
            out = model(inputs, training=False)
            return {"gif": (inputs["gif"] + 1) / 2, "restored": (out[:, -1] + 1) / 2, "original": (target + 1) / 2}

        extra.append(loop.ImageSummaries(os.path.join(model_dir, "logs"), image_batch, make_images,
                                         image_summary_every))
    history = loop.fit(trainer, train_ds, model_dir=model_dir, steps=steps, epochs=epochs, batch_size=batch_size,
                       checkpoint_every=checkpoint_every, val_ds=val_ds, validation_steps=validation_steps,
                       extra_callbacks=extra, verbose=2)
    record = record or loop.run_record(f"ccdnet_stage{stage}", CCDNET_WEIGHTS, config.to_dict(), {})
    # Save the inference network (uncompiled: CCDNet-1, or CCDNet-2 from a stage-2 run; the steps are chosen at
    # load time by recomposing its two U-Nets with ccdnet.compose).
    step1, update = ccdnet.parts(model)
    step1.trainable = True
    final = ccdnet.compose(step1, update, 1 if update is None else 2)
    run_extra = {"loss": loss_config.to_dict()}
    if adversarial:
        run_extra.update(discriminator=discriminator_config.to_dict(), d_learning_rate=d_learning_rate)
    return loop.finish(final, model_dir, CCDNET_WEIGHTS, stage=f"ccdnet stage {stage}", record=record,
                       history=history, extra=run_extra)


def _init_from(model, path: str, stage: int) -> None:
    """Copy the trained stage-``stage`` U-Net of the CCDNet at ``path`` into ``model``'s."""
    import keras

    from gif_pipeline.models.restore import ccdnet

    if not os.path.exists(path):
        raise SystemExit(f"train_ccdnet: --init_from={path}: no such file")
    source = ccdnet.parts(keras.saving.load_model(path, compile=False))[stage - 1]
    target = ccdnet.parts(model)[stage - 1]
    if source is None:
        raise SystemExit(f"train_ccdnet: --init_from={path} has no update U-Net (a stage-1 run); stage 2 starts anew")
    try:
        target.set_weights(source.get_weights())
    except ValueError as e:
        raise SystemExit(f"train_ccdnet: --init_from={path}: a different network ({e}); same --width_multiplier?")


def merge(caches: list[dict]) -> dict:
    import numpy as np

    return {k: np.concatenate([c[k] for c in caches]) for k in caches[0]}


def accuracy_by_dither(model, arrays: dict, batch_size: int = 64) -> dict:
    """Accuracy of ``model`` (logits) on a cache, overall and per dither method."""
    import numpy as np

    probs = []
    for i in range(0, len(arrays["gif"]), batch_size):
        x = arrays["gif"][i:i + batch_size].astype(np.float32) / 127.5 - 1.0
        probs.append(1 / (1 + np.exp(-np.asarray(model(x, training=False))[:, 0])))
    p = np.concatenate(probs)
    right = (p >= 0.5) == (arrays["dithered"] > 0)
    out = {"all": float(right.mean()), "n": int(len(right))}
    for d in np.unique(arrays["dither"]):
        out[str(d)] = float(right[arrays["dither"] == d].mean())
    return out


def train_classifier(strategy, config, train_ds, val_ds, *, model_dir: str, steps: int, learning_rate: float, batch_size: int,
          epochs=None, checkpoint_every: int = 250, validation_steps: int = 0, record: dict | None = None,
          resume: bool = True, val_arrays: dict | None = None):
    """Build, fit and save the classifier (no flags read); returns the saved path."""
    import keras

    from gif_pipeline.models.restore.classifier import build_classifier
    from gif_pipeline.models.restore.losses import classifier_loss
    from gif_pipeline.training import loop

    loop.prepare_model_dir(model_dir, resume)
    with strategy.scope():
        model = build_classifier(config)
        schedule = keras.optimizers.schedules.CosineDecay(learning_rate, max(1, steps), alpha=0.05)
        model.compile(optimizer=keras.optimizers.Adam(schedule), loss=classifier_loss,
                      metrics=[keras.metrics.BinaryAccuracy(threshold=0.0, name="accuracy")])
    history = loop.fit(model, train_ds, model_dir=model_dir, steps=steps, epochs=epochs, batch_size=batch_size,
                       checkpoint_every=checkpoint_every, val_ds=val_ds, validation_steps=validation_steps, verbose=2)
    extra = {"validation_accuracy": accuracy_by_dither(model, val_arrays)} if val_arrays is not None else {}
    logging.info("validation accuracy: %s", extra)
    model.compile()  # drop the loss function from the saved file
    record = record or loop.run_record("gif_classifier", CLASSIFIER_WEIGHTS, config.to_dict(), {})
    return loop.finish(model, model_dir, CLASSIFIER_WEIGHTS, stage="gif classifier", record=record, history=history,
                       extra=extra)
