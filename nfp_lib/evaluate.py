"""Score a model on held-out sequences: one-step prediction, multi-frame rollout, and the two
baselines every result stands beside (copy the last seen frame; predict a blank frame)."""

from __future__ import annotations

import numpy as np

from nfp_lib import metrics
from nfp_lib.backends import backend_of
from nfp_lib.data import split_context
from nfp_lib.validation import check_video

ROLLOUT_KEYS = ("mse", "mae", "psnr", "ssim", "ssim_7x7", "mse_sum", "ink")
NEXT_FRAME_KEYS = ("mse", "mae", "psnr", "ssim", "ssim_7x7")


def copy_last_frame(context: np.ndarray, horizon: int) -> np.ndarray:
    """The baseline forecast: the last seen frame, repeated ``horizon`` times."""
    return np.repeat(context[:, -1:], horizon, axis=1)


def blank_frame(context: np.ndarray, horizon: int) -> np.ndarray:
    """The other baseline: an all-black frame, ``horizon`` times. On Moving MNIST, where about
    nine pixels in ten are black, it beats any forecast that puts ink in the wrong place."""
    return np.zeros((context.shape[0], horizon, *context.shape[2:]), np.float32)


def ink_ratio(truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Per frame index: mean predicted intensity / mean true intensity (over sequences and
    pixels). 1 keeps the digits' ink; a forecast that fades to grey or black tends to 0."""
    axes = (0, *range(2, truth.ndim))
    return pred.mean(axis=axes) / np.maximum(truth.mean(axis=axes), 1e-12)


def predict_future(
    model: object, context: np.ndarray, horizon: int, progress: bool = False
) -> np.ndarray:
    """Roll a model out for ``horizon`` frames: O(T) when it is causal, else the re-run loop.
    ``progress`` counts the predicted frames on stderr (on a terminal)."""
    backend = backend_of(model)
    roll = backend.rollout if backend.model_config(model).causal else backend.rollout_rerun
    return roll(model, context, horizon, progress=progress)


def evaluate(
    model: object, video: np.ndarray, context: int = 10, horizon: int | None = None
) -> dict:
    """Metrics of ``model`` on ``video`` (N, T, H, W, C).

    Returns a JSON-ready dict:
    - ``seen_frames`` / ``predicted_frames``: the frame indices the rollout was given and the
      ones it predicted (``context`` and ``horizon`` count them);
    - ``next_frame``: teacher-forced one-step prediction over the whole sequence, scalars
      ``mse``, ``mae``, ``psnr``, ``ssim`` and ``ssim_7x7`` (scikit-image's and OpenSTL's SSIM,
      :func:`~nfp_lib.metrics.ssim_7x7`), means over frames 1..T-1;
    - ``rollout``: the model fed its own predictions after ``context`` seen frames, lists over the
      ``horizon`` predicted frames of the same and ``mse_sum`` (per-frame sum of squared errors,
      the literature's "MSE") and ``ink`` (:func:`ink_ratio`);
    - ``copy_last`` and ``blank``: the same lists for the two baselines.
    """
    video = check_video(video, "video", min_frames=2)
    seen, future = split_context(video, context, horizon)
    backend, steps = backend_of(model), future.shape[1]
    if backend.model_config(model).causal:  # the context runs through the model once
        one_step, rolled = backend.predict_and_rollout(model, video, seen.shape[1], steps)
    else:
        one_step = backend.predict_next(model, video)
        rolled = predict_future(model, seen, steps)
    scores = metrics.frame_metrics(video[:, 1:], one_step)
    next_frame = {key: float(np.mean(scores[key])) for key in NEXT_FRAME_KEYS}
    return {
        "num_sequences": int(video.shape[0]),
        "context": int(seen.shape[1]),
        "horizon": int(steps),
        "seen_frames": list(range(seen.shape[1])),
        "predicted_frames": list(range(seen.shape[1], seen.shape[1] + steps)),
        "next_frame": next_frame,
        "rollout": _per_frame(future, rolled),
        "copy_last": _per_frame(future, copy_last_frame(seen, steps)),
        "blank": _per_frame(future, blank_frame(seen, steps)),
    }


def beats_baselines(result: dict) -> dict[str, dict[str, bool]]:
    """Whether the rollout beats each baseline at every horizon, on MSE and on SSIM."""
    roll = result["rollout"]
    return {
        base: {
            "mse": bool(np.all(np.array(roll["mse"]) < np.array(result[base]["mse"]))),
            "ssim": bool(np.all(np.array(roll["ssim"]) > np.array(result[base]["ssim"]))),
        }
        for base in ("copy_last", "blank")
    }


def _per_frame(truth: np.ndarray, pred: np.ndarray) -> dict[str, list[float]]:
    scores = {**metrics.frame_metrics(truth, pred), "ink": ink_ratio(truth, pred)}
    return {key: [float(v) for v in scores[key]] for key in ROLLOUT_KEYS}
