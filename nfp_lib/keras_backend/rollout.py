"""Prediction with a Keras model: one step ahead, and rollouts that feed predictions back in.

:func:`rollout` is O(T): it runs the context through the ConvLSTM cells once and then carries
each layer's ``(h, c)`` state forward one frame at a time. It needs a causal model (``conv2d``
head). :func:`rollout_rerun` is the keras-io example's loop, which re-runs the whole growing
sequence for every new frame (O(T^2)); it works for any model, including the leaky ``conv3d``
head.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from nfp_lib.data import split_context
from nfp_lib.keras_backend.model import image_size_of, model_config
from nfp_lib.validation import check_positive_int, check_video, progress_bar


def predict_next(model: keras.Model, video: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """Teacher-forced one-step predictions: frames 1..T-1 of ``video`` (N, T, H, W, C)."""
    video = _check_input(model, video, "video", min_frames=2)
    batch_size = check_positive_int(batch_size, "batch_size")
    return model.predict(video[:, :-1], batch_size=batch_size, verbose=0).astype(np.float32)


def rollout(
    model: keras.Model,
    context: np.ndarray,
    horizon: int,
    batch_size: int = 32,
    progress: bool = False,
) -> np.ndarray:
    """Predict ``horizon`` frames after ``context`` (N, T, H, W, C), feeding predictions back.

    The context warms the ConvLSTM states once; each new frame then costs one step.
    Returns ``(N, horizon, H, W, C)``. ``progress`` counts the predicted frames on stderr (on a
    terminal).
    """
    step = FrameStep(model)
    if not step.config.causal:
        raise ValueError(
            "rollout: expected a causal model (head 'conv2d'), got head "
            f"{step.config.head!r}, whose output also sees the next frame; use rollout_rerun"
        )
    context = _check_input(model, context, "context")
    horizon = check_positive_int(horizon, "horizon")
    batch_size = check_positive_int(batch_size, "batch_size")
    parts = []
    with progress_bar(len(context) * horizon, progress) as bar:
        for start in range(0, len(context), batch_size):
            batch = context[start : start + batch_size]
            n = step.state_batch(len(batch))
            states = [np.zeros((n, *shape), np.float32) for shape in step.state_shapes]
            for t in range(batch.shape[1]):
                frame, *states = step.predict_on_batch([batch[:, t : t + 1], *states])
            predicted = [frame]
            bar.update(len(batch))
            for _ in range(horizon - 1):
                frame, *states = step.predict_on_batch([frame, *states])
                predicted.append(frame)
                bar.update(len(batch))
            parts.append(np.concatenate(predicted, axis=1))
    return np.concatenate(parts).astype(np.float32)


def predict_and_rollout(
    model: keras.Model, video: np.ndarray, context: int, horizon: int, batch_size: int = 32
) -> tuple[np.ndarray, np.ndarray]:
    """``(predict_next(model, video), rollout(model, video[:, :context], horizon))``, the
    torch backend's function of the same name (which runs the shared context once). Here the
    two run one after the other."""
    video = _check_input(model, video, "video", min_frames=2)
    seen = split_context(video, context)[0]
    return predict_next(model, video, batch_size), rollout(model, seen, horizon, batch_size)


def rollout_rerun(
    model: keras.Model,
    context: np.ndarray,
    horizon: int,
    batch_size: int = 32,
    progress: bool = False,
) -> np.ndarray:
    """The keras-io loop: re-run the whole sequence so far to get each next frame (O(T^2)).

    Works for any model; for a causal one it equals :func:`rollout`, only slower. ``progress``
    counts the predicted frames on stderr (on a terminal).
    """
    frames = _check_input(model, context, "context")
    horizon = check_positive_int(horizon, "horizon")
    batch_size = check_positive_int(batch_size, "batch_size")
    with progress_bar(len(frames) * horizon, progress) as bar:
        for _ in range(horizon):
            last = model.predict(frames, batch_size=batch_size, verbose=0)[:, -1:]
            frames = np.concatenate([frames, last.astype(np.float32)], axis=1)
            bar.update(len(frames))
    return frames[:, -horizon:]


def _check_input(model: keras.Model, video: np.ndarray, name: str, min_frames: int = 1):
    channels = model.input_shape[-1]
    video = check_video(video, name, channels=channels, min_frames=min_frames)
    size = image_size_of(model)
    if video.shape[2:4] != (size, size):
        raise ValueError(
            f"{name}: expected frames of {size}x{size} (the size the model was built for), "
            f"got {video.shape[2]}x{video.shape[3]}"
        )
    return video.astype(np.float32, copy=False)


class FrameStep(keras.Model):
    """One time step of a model, sharing its layers (and so its weights).

    Inputs: one frame ``(N, 1, H, W, C)`` and every ConvLSTM's ``h`` and ``c`` (batch
    :meth:`state_batch`); outputs: the predicted next frame ``(N, 1, H, W, C)`` and the new
    states, in the same order. Batch
    norms use their moving statistics unless called with ``training=True``.
    """

    def __init__(self, model: keras.Model):
        super().__init__(name="step")  # TensorFlow refuses the default name, "__step"
        self.config = model_config(model)
        names = {layer.name: layer for layer in model.layers}
        self.patch = names.get("space_to_depth"), names.get("depth_to_space")
        self.cells = [names[f"convlstm_{i}"].cell for i in range(len(self.config.filters))]
        self.norms = [names.get(f"norm_{i}") for i in range(len(self.cells))]
        self.head = names["head"]
        self.motion = names.get("motion")
        self.mirror = names.get("mirror"), names.get("mirror_mean")
        size = image_size_of(model) // self.config.patch_size
        self.state_shapes = [(size, size, f) for f in self.config.filters for _ in "hc"]

    def state_batch(self, n: int, training: bool = False) -> int:
        """How many states ``n`` sequences need: four each for a ``mirror_average`` model
        predicting (one per mirror image), else one."""
        return 4 * n if self.mirror[0] and not training else n

    def call(self, inputs, training=False):
        frame, *states = inputs
        if self.mirror[0]:
            frame = self.mirror[0](frame, training=training)
        x = self.patch[0](frame) if self.patch[0] else frame
        x = x[:, 0]
        new_states = []
        for i, (cell, norm) in enumerate(zip(self.cells, self.norms, strict=True)):
            x, hc = cell(x, states[2 * i : 2 * i + 2])
            new_states += hc
            if norm is not None:
                x = norm(ops.expand_dims(x, 1), training=training)[:, 0]
        x = self.head(ops.expand_dims(x, 1))
        if self.motion:
            x = self.motion([frame, x])
        elif self.patch[1]:
            x = self.patch[1](x)
        if self.mirror[1]:
            x = self.mirror[1](x, training=training)
        return [x, *new_states]
