"""Training a Keras model on generated Moving MNIST with Keras' own ``fit`` and callbacks.

Every epoch a callback scores teacher-forced validation predictions (``val_mse``, ``val_ssim``)
and another one saves ``model.keras`` (optimizer state included) and ``history.json`` atomically,
so an interrupted run resumes exactly where it stopped.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import keras
import numpy as np
from keras import ops

from nfp_lib import metrics
from nfp_lib.config import Config, check_schedule
from nfp_lib.data import shift_frames, training_sequences
from nfp_lib.fileio import atomic_save, atomic_write_text
from nfp_lib.keras_backend.losses import KERAS_LOSSES
from nfp_lib.keras_backend.model import build_model, canonical, model_config
from nfp_lib.keras_backend.rollout import predict_next
from nfp_lib.validation import check_video

HISTORY_KEYS = ("epoch", "loss", "val_loss", "val_mse", "val_ssim", "learning_rate", "time")
MODEL_FILE, HISTORY_FILE, CONFIG_FILE = "model.keras", "history.json", "config.json"


def fit(
    config: Config,
    out_dir: str | Path,
    resume: bool = False,
    progress: bool = True,
    train_data: np.ndarray | None = None,
    val_data: np.ndarray | None = None,
) -> dict:
    """Train ``config``'s model, checkpointing to ``out_dir`` every epoch; returns the history.

    ``train_data`` / ``val_data``: videos ``(N, T, H, W, C)`` to use instead of generated ones.
    ``resume=True`` loads ``out_dir/model.keras`` and ``history.json`` and goes on from the next
    epoch. The history maps each of :data:`HISTORY_KEYS` to one value per epoch. Keras trains
    in float32 here (``mixed_precision`` is honoured by the torch backend only). With a
    ``finish_loss`` the model is compiled again, with the same optimizer, from ``finish_from`` on.
    """
    if not isinstance(config, Config):
        raise ValueError(f"config: expected a Config, got {type(config).__name__}")
    t = config.train
    if t.sampling_steps > 0:
        raise ValueError(
            "sampling_steps: scheduled sampling is implemented by the torch backend only; "
            f"expected 0 for Keras, got {t.sampling_steps}"
        )
    out = Path(out_dir)
    keras.utils.set_random_seed(t.seed)
    if train_data is not None:
        train_data = _check_data(train_data, "train_data", config)
    val = _validation_video(config, val_data)
    if resume:
        model, history = _resume(out, config)
    else:
        model = build_model(config.model, image_size=t.image_size)
        optimizer = _optimizer(config, _batches_per_epoch(config, train_data))
        model.compile(optimizer=optimizer, loss=KERAS_LOSSES[t.loss])
        history = {key: [] for key in HISTORY_KEYS}
    atomic_write_text(out / CONFIG_FILE, json.dumps(config.to_dict(), indent=2) + "\n")
    switch = min(t.finish_from - 1, t.epochs) if t.finish_from else t.epochs
    for loss, first, end in ((t.loss, 0, switch), (t.finish_loss, switch, t.epochs)):
        done = len(history["epoch"])
        val_losses = history["val_loss"][first:]  # this loss's record
        stopped = _epochs_since_best(val_losses) >= max(t.early_stopping_patience, 1)
        if stopped:  # that run had stopped early
            return history
        if done >= end:  # this part is done (or empty)
            continue
        if model.loss != KERAS_LOSSES[loss]:
            model.compile(optimizer=model.optimizer, loss=KERAS_LOSSES[loss])
        if not _fit_epochs(model, config, train_data, val, history, out, (first, end), progress):
            break
    return history


def _fit_epochs(model, config, train_data, val, history, out, epochs, progress) -> bool:
    """``model.fit`` from the next epoch up to ``epochs = (first, end)``'s end, where ``first``
    is the first epoch trained with the current loss; False when early stopping ended it."""
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
    callbacks = [
        ValidationMetrics(val, t.batch_size),
        stopping,
        *([plateau] if plateau else []),
        _RestorePlateaus(stopping, plateau, history["val_loss"][first:]),
        AtomicCheckpoint(out, history),
    ]
    train = _EpochData(config, train_data, first_epoch=done)
    model.fit(
        train,
        steps_per_epoch=train.batches_per_epoch,
        shuffle=False,  # _EpochData shuffles, reproducibly
        validation_data=shift_frames(val),
        validation_batch_size=t.batch_size,
        epochs=end,
        initial_epoch=done,
        callbacks=callbacks,
        verbose=1 if progress else 0,
    )
    return not model.stop_training


def load_model(path: str | Path) -> tuple[keras.Model, Config]:
    """A ``.keras`` file saved by :func:`fit` (or by Keras) and its :class:`Config`.

    The config comes from ``config.json`` beside the file when there is one, else it is read
    from the layers with default training settings. Loads with ``safe_mode=True``.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"model: no such file: {path}")
    try:
        model = keras.models.load_model(path, safe_mode=True)
    except Exception as err:  # Keras raises many kinds for a damaged archive
        raise ValueError(f"model: {path} is not a readable Keras model ({err})") from None
    sidecar = path.parent / CONFIG_FILE
    if sidecar.is_file():
        return model, Config.from_dict(json.loads(sidecar.read_text()))
    return model, Config(model=model_config(model))


class ValidationMetrics(keras.callbacks.Callback):
    """Adds ``val_mse`` and ``val_ssim`` of teacher-forced predictions to each epoch's logs."""

    def __init__(self, video: np.ndarray, batch_size: int):
        super().__init__()
        self.video, self.batch_size = video, batch_size

    def on_epoch_end(self, epoch, logs=None):
        predicted = predict_next(self.model, self.video, batch_size=self.batch_size)
        truth = self.video[:, 1:]
        logs["val_mse"] = float(np.mean(metrics.mse(truth, predicted)))
        logs["val_ssim"] = float(np.mean(metrics.ssim(truth, predicted)))


class AtomicCheckpoint(keras.callbacks.Callback):
    """Appends each epoch to ``history`` and saves the model and the history atomically."""

    def __init__(self, out_dir: Path, history: dict):
        super().__init__()
        self.out_dir, self.history = out_dir, history

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()
        rate = ops.convert_to_numpy(self.model.optimizer.learning_rate)
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
        atomic_save(self.out_dir / MODEL_FILE, self.model.save)
        atomic_write_text(self.out_dir / HISTORY_FILE, json.dumps(self.history, indent=2) + "\n")


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
    """The training batches ``(x, y)`` of epochs ``first_epoch .. epochs - 1``, one after another.

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
        start = (index % self.batches_per_epoch) * self.batch_size
        return shift_frames(self._epoch(epoch)[start : start + self.batch_size])

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
    return _check_data(video, "val_data", config)


def _check_data(video: np.ndarray, name: str, config: Config) -> np.ndarray:
    video = check_video(video, name, channels=config.model.channels, min_frames=2)
    size = config.train.image_size
    if video.shape[2:4] != (size, size):
        raise ValueError(
            f"{name}: expected {size}x{size} frames (train.image_size), "
            f"got {video.shape[2]}x{video.shape[3]}"
        )
    return video.astype(np.float32, copy=False)


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


def _resume(out: Path, config: Config) -> tuple[keras.Model, dict]:
    if not (out / MODEL_FILE).is_file() or not (out / HISTORY_FILE).is_file():
        raise ValueError(
            f"resume: expected {MODEL_FILE} and {HISTORY_FILE} in {out}, found "
            f"{sorted(p.name for p in out.iterdir()) if out.is_dir() else 'no such directory'}"
        )
    model, saved = load_model(out / MODEL_FILE)
    check_schedule(out / MODEL_FILE, saved, config)
    if model_config(model) != canonical(config.model):
        raise ValueError(
            f"resume: the model in {out} is {model_config(model)}, "
            f"but the config asks for {config.model}"
        )
    history = json.loads((out / HISTORY_FILE).read_text())
    if set(history) != set(HISTORY_KEYS):
        raise ValueError(
            f"resume: expected history keys {HISTORY_KEYS} in {out / HISTORY_FILE}, "
            f"got {sorted(history)}"
        )
    return model, history
