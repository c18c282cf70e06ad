"""Training a Keras model on generated Moving MNIST with Keras' own ``fit`` and callbacks.

Every epoch a callback scores teacher-forced validation predictions (``val_loss``, ``val_mse``,
``val_ssim``) and another one commits ``model.keras`` (optimizer state included) and
``history.json`` together to the :class:`~nfp_lib.runs.RunFolder`, so an interrupted run
resumes exactly where it stopped. With ``ema_decay`` a third keeps a moving average of the
weights, which is validated and saved.
"""

from __future__ import annotations

import json
import math
import time
import zipfile
from pathlib import Path

import keras
import numpy as np
from keras import ops

from nfp_lib import metrics
from nfp_lib.config import Config, teacher_forcing_probability
from nfp_lib.data import check_training_data, shift_frames, training_sequences
from nfp_lib.keras_backend.losses import KERAS_LOSSES
from nfp_lib.keras_backend.model import (
    build_model,
    canonical,
    image_size_of,
    mirror_images,
    mirror_mean,
    model_config,
    unroll_on_jax,
)
from nfp_lib.keras_backend.rollout import FrameStep, predict_next
from nfp_lib.pretrained import load_start
from nfp_lib.runs import RunFolder
from nfp_lib.validation import check_finite_weights, describe_error

HISTORY_KEYS = ("epoch", "loss", "val_loss", "val_mse", "val_ssim", "learning_rate", "time")
MODEL_FILE, HISTORY_FILE, CONFIG_FILE = "model.keras", "history.json", "config.json"
TRAIN_WEIGHTS_FILE = "train_weights.npz"  # with ema_decay: the weights training goes on from


def fit(
    config: Config,
    out_dir: str | Path,
    resume: bool = False,
    progress: bool = True,
    train_data: np.ndarray | None = None,
    val_data: np.ndarray | None = None,
    overwrite: bool = False,
) -> dict:
    """Train ``config``'s model, checkpointing to ``out_dir`` every epoch; returns the history.

    ``train_data`` / ``val_data``: videos ``(N, T, H, W, C)`` to use instead of generated ones.
    ``out_dir`` is a :class:`~nfp_lib.runs.RunFolder`: a folder holding a run is refused unless
    ``resume`` or ``overwrite`` (move the old run aside) is given. ``resume=True`` loads the
    committed epoch's ``model.keras`` and ``history.json`` and goes on from the next epoch;
    every setting but ``epochs`` must match. Ctrl-C raises ``KeyboardInterrupt`` with the last
    committed epoch kept. The history maps each of :data:`HISTORY_KEYS` to one value per epoch.
    With ``mixed_precision``, where :func:`bf16_native` says the backend computes bf16 natively,
    the ConvLSTM layers train in ``mixed_bfloat16`` (:class:`MixedPrecision`), as the torch
    backend's autocast; validation and the saved model are float32.
    With a ``finish_loss`` the model is compiled again, with the same optimizer, from
    ``finish_from`` on. With ``sampling_steps`` Keras fits a :class:`SampledModel` around the
    model (scheduled sampling, as the torch backend's), else with ``average_mirrors`` a
    :class:`MirrorAveraged`; the model itself is validated and saved.
    With ``ema_decay`` the saved ``model.keras`` holds the weight average and
    ``train_weights.npz`` beside it the weights that training goes on from.
    """
    if not isinstance(config, Config):
        raise ValueError(f"config: expected a Config, got {type(config).__name__}")
    if config.train.sampling_steps > 0 and not config.model.causal:
        raise ValueError(
            "sampling_steps: scheduled sampling feeds predictions back frame by frame, which "
            f"needs a causal model (head 'conv2d'), got head {config.model.head!r}"
        )
    train_data = check_training_data(train_data, "train_data", config)
    val = _validation_video(config, val_data)
    with RunFolder.open(out_dir, config, resume, overwrite) as run:
        return _fit(config, run, progress, train_data, val)


def _fit(config: Config, run: RunFolder, progress: bool, train_data, val) -> dict:
    """:func:`fit` once the inputs are checked and the run folder is locked."""
    t = config.train
    keras.utils.set_random_seed(t.seed)
    average = None
    if run.resume_dir:
        model, history, average = _resume(run.resume_dir, config)
    else:
        model = build_model(config.model, image_size=t.image_size)
        start = load_start(config, "keras")
        if start is not None:
            model.set_weights(start.get_weights())
        optimizer = _optimizer(config, _batches_per_epoch(config, train_data))
        model.compile(optimizer=optimizer, loss=KERAS_LOSSES[t.loss])
        history = {key: [] for key in HISTORY_KEYS}
    if average is None and t.ema_decay:
        average = WeightAverage(model, t.ema_decay)
    trainer = model
    if t.sampling_steps:
        trainer = SampledModel(model, t.average_mirrors)
    elif t.average_mirrors:
        trainer = MirrorAveraged(model)
    switch = min(t.finish_from - 1, t.epochs) if t.finish_from else t.epochs
    for loss, first, end in ((t.loss, 0, switch), (t.finish_loss, switch, t.epochs)):
        done = len(history["epoch"])
        val_losses = history["val_loss"][first:]  # this loss's record
        stopped = _epochs_since_best(val_losses) >= t.early_stopping_patience
        if stopped:  # that run had stopped early
            return history
        if done >= end:  # this part is done (or empty)
            continue
        for compiled in {model, trainer}:  # one optimizer: model.keras saves its state
            if compiled.loss != KERAS_LOSSES[loss]:
                compiled.compile(optimizer=model.optimizer, loss=KERAS_LOSSES[loss])
        epochs = (first, end)
        if not _fit_epochs(
            trainer, model, config, train_data, val, history, run, epochs, average, progress
        ):
            break
    return history


def _fit_epochs(
    trainer, model, config, train_data, val, history, run, epochs, average, progress
) -> bool:
    """``trainer.fit`` (``model`` or a :class:`SampledModel` of it) from the next epoch up to
    ``epochs = (first, end)``'s end, where ``first`` is the first epoch trained with the current
    loss; False when early stopping ended it.

    With a :class:`WeightAverage` the callbacks between it and its ``swap_back`` see the average.
    """
    t = config.train
    first, end = epochs
    done = len(history["epoch"])
    stopping = keras.callbacks.EarlyStopping(
        monitor="val_loss", mode="min", patience=t.early_stopping_patience
    )
    plateau = None
    if t.lr_schedule == "plateau":
        plateau = keras.callbacks.ReduceLROnPlateau(
            monitor="val_loss", mode="min", factor=t.lr_factor, patience=t.lr_patience, min_delta=0
        )
    mixed = t.mixed_precision and bf16_native()
    callbacks = [
        *([MixedPrecision(model)] if mixed else []),
        *([average] if average else []),
        ValidationMetrics(model, val, t.batch_size, model.loss),
        stopping,
        *([plateau] if plateau else []),
        _RestorePlateaus(stopping, plateau, history["val_loss"][first:]),
        EpochCommit(model, run, history, average),
        *([average.swap_back] if average else []),
    ]
    train = _EpochData(config, train_data, first_epoch=done)
    trainer.fit(
        train,
        steps_per_epoch=train.batches_per_epoch,
        shuffle=False,  # _EpochData shuffles, reproducibly
        epochs=end,
        initial_epoch=done,
        callbacks=callbacks,
        verbose=1 if progress else 0,
    )
    return not trainer.stop_training


class SampledModel(keras.Model):
    """Scheduled sampling: ``model`` stepped one frame at a time (:class:`FrameStep`, sharing its
    weights), fed its own previous prediction where ``feed_truth`` says so, as the torch
    backend's ``sampled_forward``.

    Inputs: frames ``(N, T, H, W, C)`` and ``feed_truth`` ``(N, T)`` (1: the true frame ``t``, 0:
    the prediction of it from step ``t - 1``; step 0 always sees the true frame). Returns the
    predictions ``(N, T, H, W, C)``; gradients flow through the fed-back predictions. With
    ``average`` (``average_mirrors``) each training step runs on the frame's four mirror images
    and predicts the mean of their predictions mirrored back, as the model predicts.
    """

    def __init__(self, model: keras.Model, average: bool = False):
        super().__init__(name="sampled")
        self.predictor, self.average = model, average
        self.step = FrameStep(model)

    def build(self, input_shape) -> None:
        self.built = True  # the predictor's layers are built already

    def call(self, inputs, training=False):
        frames, feed_truth = inputs
        average = self.average and training  # predicting, the model averages itself
        n = ops.shape(frames)[0]
        n = 4 * n if average else self.step.state_batch(n, training)
        states = [ops.zeros((n, *shape), frames.dtype) for shape in self.step.state_shapes]
        predictions = []
        for t in range(frames.shape[1]):
            frame = frames[:, t : t + 1]
            if t:
                keep = ops.reshape(ops.cast(feed_truth[:, t], frame.dtype), (-1, 1, 1, 1, 1))
                frame = keep * frame + (1 - keep) * ops.cast(predictions[-1], frame.dtype)
            frame = mirror_images(frame) if average else frame
            prediction, *states = self.step([frame, *states], training=training)
            predictions.append(mirror_mean(prediction) if average else prediction)
        return ops.concatenate(predictions, axis=1)


class MirrorAveraged(keras.Model):
    """``average_mirrors`` without scheduled sampling: in training, ``model`` runs on the four
    mirror images of each sequence and returns the mean of their predictions mirrored back, as
    the model predicts (it averages itself when not training)."""

    def __init__(self, model: keras.Model):
        super().__init__(name="mirror_averaged")
        self.predictor = model

    def build(self, input_shape) -> None:
        self.built = True  # the predictor's layers are built already

    def call(self, frames, training=False):
        if not training:
            return self.predictor(frames, training=False)
        return mirror_mean(self.predictor(mirror_images(frames), training=True))


def load_model(path: str | Path) -> tuple[keras.Model, Config]:
    """A ``.keras`` file saved by :func:`fit` (or by Keras) and its :class:`Config`.

    The config comes from ``config.json`` beside the file when there is one (it must describe
    the model in the file), else it is read from the layers with default training settings.
    Loads with ``safe_mode=True``; non-finite weights are refused.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"model: no such file: {path}")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"model: {path} is not a Keras archive (a truncated or foreign file?)")
    try:
        model = unroll_on_jax(keras.models.load_model(path, safe_mode=True))
        found = model_config(model)
    except Exception as err:  # Keras raises many kinds, on many lines, for a damaged archive
        reason = describe_error(err)
        raise ValueError(f"model: {path} is not a readable Keras model ({reason})") from None
    check_finite_weights(model.get_weights(), f"model {path}")
    sidecar = path.parent / CONFIG_FILE
    if not sidecar.is_file():
        return model, Config(model=found)
    try:
        config = Config.from_dict(json.loads(sidecar.read_text()))
    except (ValueError, TypeError) as err:  # a JSONDecodeError is a ValueError
        raise ValueError(f"model: {sidecar} is not a valid config ({err})") from None
    if canonical(config.model) != found or config.train.image_size != image_size_of(model):
        raise ValueError(
            f"model: {sidecar} describes {config.model} for {config.train.image_size}-pixel "
            f"frames, but {path} holds {found} for {image_size_of(model)}-pixel frames"
        )
    return model, config


def bf16_native() -> bool:
    """Whether Keras' backend computes bf16 natively here. PyTorch: where
    ``torch_backend.bf16_native`` says so (a CUDA GPU, or a CPU with AVX512-BF16 or AMX). JAX
    and TensorFlow: on a GPU only; JAX's CPU build computes bf16 no faster than float32 (the
    gradient of a 3x3 convolution: 49 ms against 48 ms, where PyTorch's took 11 ms against 32)."""
    backend = keras.backend.backend()
    if backend == "torch":
        import torch

        from nfp_lib.torch_backend import bf16_native as torch_bf16_native

        return torch_bf16_native(torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    if backend == "jax":
        import jax

        return jax.default_backend() == "gpu"
    if backend == "tensorflow":
        import tensorflow as tf

        return bool(tf.config.list_physical_devices("GPU"))
    return False


def set_precision(model: keras.Model, policy: str) -> None:
    """Give ``model``'s ConvLSTM layers (and their cells) the dtype policy ``policy``
    (``"float32"`` or ``"mixed_bfloat16"``: bf16 computation, float32 weights)."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.ConvLSTM2D):
            layer.dtype_policy = layer.cell.dtype_policy = policy


class MixedPrecision(keras.callbacks.Callback):
    """Trains the ConvLSTM layers, most of a step's convolutions, in ``mixed_bfloat16`` and puts
    them back in float32 at the end of every epoch, before the callbacks after it validate and
    save: as the torch backend's bf16 autocast, which covers the training steps only. It must
    come first in the callback list."""

    def __init__(self, model: keras.Model):
        super().__init__()
        self.predictor = model

    def on_epoch_begin(self, epoch, logs=None):
        set_precision(self.predictor, "mixed_bfloat16")

    def on_epoch_end(self, epoch, logs=None):
        set_precision(self.predictor, "float32")


class ValidationMetrics(keras.callbacks.Callback):
    """Adds ``val_loss`` (with ``loss``, a Keras loss or its name), ``val_mse`` and ``val_ssim``
    of ``model``'s teacher-forced predictions to each epoch's logs."""

    def __init__(self, model: keras.Model, video: np.ndarray, batch_size: int, loss):
        super().__init__()
        self.predictor, self.video, self.batch_size = model, video, batch_size
        self.loss = keras.losses.get(loss)

    def on_epoch_end(self, epoch, logs=None):
        predicted = predict_next(self.predictor, self.video, batch_size=self.batch_size)
        truth = self.video[:, 1:]
        logs["val_loss"] = float(np.mean(ops.convert_to_numpy(self.loss(truth, predicted))))
        logs["val_mse"] = float(np.mean(metrics.mse(truth, predicted)))
        logs["val_ssim"] = float(np.mean(metrics.ssim(truth, predicted)))


class WeightAverage(keras.callbacks.Callback):
    """An exponential moving average of the trainable weights, kept as the torch backend's
    ``WeightAverage`` (and Keras' own ``use_ema``) keeps it: the first update copies the
    weights, each later batch moves the average ``1 - decay`` of the way to them.

    At the end of an epoch it swaps the average into the model, so the callbacks after it
    validate and save the average; ``swap_back``, the last callback, swaps the training weights
    back. In between, :attr:`average` holds the training weights.
    """

    def __init__(self, model: keras.Model, decay: float):
        super().__init__()
        self.decay, self.updates = decay, 0
        self.variables = model.trainable_variables
        self.average = _copies(self.variables)
        self.swap_back = keras.callbacks.LambdaCallback(on_epoch_end=lambda *_: self.swap())

    def on_train_batch_end(self, batch, logs=None):
        if keras.backend.backend() == "jax":
            self.model.jax_state_sync()  # JAX holds the new weights apart until asked
        weight = 1.0 - self.decay if self.updates else 1.0
        self.average = [
            ops.add(a, ops.multiply(weight, ops.subtract(ops.stop_gradient(v.value), a)))
            for a, v in zip(self.average, self.variables, strict=True)
        ]
        self.updates += 1

    def on_epoch_end(self, epoch, logs=None):
        self.swap()

    def swap(self) -> None:
        """Exchange the model's trainable weights and the average."""
        kept = _copies(self.variables)
        for variable, average in zip(self.variables, self.average, strict=True):
            variable.assign(average)
        self.average = kept

    def save(self, path: Path) -> None:
        """Write the weights :attr:`average` holds and the update count to ``path`` (``.npz``)."""
        arrays = {f"w{i}": ops.convert_to_numpy(a) for i, a in enumerate(self.average)}
        np.savez(path, updates=self.updates, **arrays)

    def restore(self, model: keras.Model, path: Path) -> None:
        """Resume from :meth:`save`'s file, written while swapped: ``model`` holds the average
        (as this object, built from it, does); the saved training weights go back into it."""
        with np.load(path) as saved:
            for i, variable in enumerate(model.trainable_variables):
                variable.assign(saved[f"w{i}"])
            self.updates = int(saved["updates"])


def _copies(variables) -> list:
    """Detached copies of the variables' values (no gradient history to keep alive)."""
    return [ops.copy(ops.stop_gradient(v.value)) for v in variables]


class EpochCommit(keras.callbacks.Callback):
    """Appends each epoch to ``history`` and commits ``model`` and the history to the run folder
    together; with a :class:`WeightAverage` (swapped in: the model holds the average) also the
    training weights."""

    def __init__(self, model, run: RunFolder, history: dict, average: WeightAverage | None = None):
        super().__init__()
        self.predictor, self.run, self.history, self.average = model, run, history, average

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()
        rate = ops.convert_to_numpy(self.predictor.optimizer.learning_rate)
        self.learning_rate = float(str(np.float32(rate)))  # 0.001, not 0.0010000000474974513

    def on_epoch_end(self, epoch, logs=None):
        row = {
            "epoch": epoch + 1,
            "loss": float(logs["loss"]),
            "val_loss": float(logs["val_loss"]),
            "val_mse": logs["val_mse"],
            "val_ssim": logs["val_ssim"],
            "learning_rate": self.learning_rate,
            "time": time.perf_counter() - self.start,
        }
        for key in HISTORY_KEYS:
            self.history[key].append(row[key])
        self.run.commit_epoch(epoch + 1, self._write)

    def _write(self, folder: Path) -> None:
        if self.average:
            self.average.save(folder / TRAIN_WEIGHTS_FILE)
        self.predictor.save(folder / MODEL_FILE)
        (folder / HISTORY_FILE).write_text(json.dumps(self.history, indent=2) + "\n")


class _RestorePlateaus(keras.callbacks.Callback):
    """On resume, give EarlyStopping and ReduceLROnPlateau the counters they had (both reset
    themselves in ``on_train_begin``, so this must come after them in the callback list)."""

    def __init__(self, stopping, plateau, val_losses: list[float]):
        super().__init__()
        self.stopping, self.plateau, self.val_losses = stopping, plateau, val_losses

    def on_train_begin(self, logs=None):
        if self.val_losses:
            since = _epochs_since_best(self.val_losses)
            best = min(self.val_losses)
            self.stopping.best, self.stopping.wait = best, since
            if self.plateau is not None:
                patience = max(self.plateau.patience, 1)  # it resets its counter on every cut
                self.plateau.best, self.plateau.wait = best, since % patience


class _EpochData(keras.utils.PyDataset):
    """The training batches ``(x, y)`` of epochs ``first_epoch .. epochs - 1``, one after another;
    with scheduled sampling ``((x, feed_truth), y)`` for a :class:`SampledModel`.

    Batch ``index`` belongs to epoch ``first_epoch + index // batches_per_epoch``, so what a
    batch holds never depends on when Keras fetches it: epoch ``e`` gets the same batches whether
    or not the run was resumed. Fixed data is reshuffled with a seed per epoch; with
    ``fresh_data`` each epoch draws new sequences (seeded as in the torch backend).
    """

    def __init__(self, config: Config, video: np.ndarray | None, first_epoch: int):
        super().__init__()
        t = config.train
        self.config, self.batch_size, self.first_epoch = config, t.batch_size, first_epoch
        self.fixed = video
        if video is None and not t.fresh_data:
            self.fixed = training_sequences(t, "train")
        self.num = t.num_train if self.fixed is None else len(self.fixed)
        self.batches_per_epoch = _batches_per_epoch(config, self.fixed)
        self.cached = (None, None)  # (epoch, its sequences in batch order)

    def __len__(self) -> int:
        return (self.config.train.epochs - self.first_epoch) * self.batches_per_epoch

    def __getitem__(self, index: int):
        epoch = self.first_epoch + index // self.batches_per_epoch
        batch = index % self.batches_per_epoch
        start = batch * self.batch_size
        x, y = shift_frames(self._epoch(epoch)[start : start + self.batch_size])
        t = self.config.train
        if not t.sampling_steps:
            return x, y
        step = epoch * self.batches_per_epoch + batch  # the optimiser steps before this one
        p = teacher_forcing_probability(step, t.sampling_steps, t.sampling_end, t.sampling_start)
        feed_truth = np.random.default_rng((t.seed, epoch, batch)).random(x.shape[:2]) < p
        feed_truth[:, : t.context_frames] = True  # the seen frames are always true
        return (x, feed_truth.astype(np.float32)), y

    def _epoch(self, epoch: int) -> np.ndarray:
        if self.cached[0] != epoch:
            if self.fixed is None:
                video = training_sequences(self.config.train, "train", epoch + 1)
            else:
                order = np.random.default_rng((self.config.train.seed, epoch)).permutation(self.num)
                video = self.fixed[order]
            self.cached = (epoch, video)
        return self.cached[1]


def _validation_video(config: Config, video: np.ndarray | None) -> np.ndarray:
    if video is None:
        return training_sequences(config.train, "val")
    return check_training_data(video, "val_data", config)


def _batches_per_epoch(config: Config, video: np.ndarray | None) -> int:
    """Batches in an epoch of ``video``, or of ``num_train`` generated sequences when None."""
    t = config.train
    return math.ceil((t.num_train if video is None else len(video)) / t.batch_size)


def _optimizer(config: Config, batches_per_epoch: int) -> keras.optimizers.Optimizer:
    """Adam(W) at ``learning_rate``, or following a cosine over every batch of the run."""
    t = config.train
    rate = t.learning_rate
    if t.lr_schedule == "cosine":
        rate = keras.optimizers.schedules.CosineDecay(rate, t.epochs * batches_per_epoch)
    if t.optimizer == "adamw":
        return keras.optimizers.AdamW(learning_rate=rate, weight_decay=t.weight_decay)
    return keras.optimizers.Adam(learning_rate=rate)


def _epochs_since_best(val_losses: list[float]) -> int:
    """Epochs after the lowest validation loss (0 when the last epoch was the best)."""
    if not val_losses:
        return 0
    return len(val_losses) - 1 - int(np.argmin(val_losses))


def _resume(out: Path, config: Config) -> tuple[keras.Model, dict, WeightAverage | None]:
    """The model, history and weight average of the committed epoch in ``out`` (whose config
    the run folder has checked)."""
    if not (out / MODEL_FILE).is_file() or not (out / HISTORY_FILE).is_file():
        raise ValueError(
            f"resume: expected {MODEL_FILE} and {HISTORY_FILE} in {out}, found "
            f"{sorted(p.name for p in out.iterdir())}"
        )
    model, _ = load_model(out / MODEL_FILE)
    if model_config(model) != canonical(config.model):
        raise ValueError(
            f"resume: the model in {out} is {model_config(model)}, "
            f"but the config asks for {config.model}"
        )
    try:
        history = json.loads((out / HISTORY_FILE).read_text())
    except ValueError as err:  # bad JSON or UTF-8
        raise ValueError(f"resume: {out / HISTORY_FILE} is not valid JSON ({err})") from None
    if not isinstance(history, dict) or set(history) != set(HISTORY_KEYS):
        raise ValueError(
            f"resume: expected history keys {HISTORY_KEYS} in {out / HISTORY_FILE}, "
            f"got {sorted(history) if isinstance(history, dict) else type(history).__name__}"
        )
    if not config.train.ema_decay:
        return model, history, None
    average = WeightAverage(model, config.train.ema_decay)  # the saved model holds the average
    average.restore(model, out / TRAIN_WEIGHTS_FILE)
    return model, history, average
