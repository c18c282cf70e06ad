"""Score a model on held-out sequences: one-step prediction, multi-frame rollout, and a baseline."""

from __future__ import annotations

import numpy as np

from nfp_lib import metrics
from nfp_lib.backends import backend_of
from nfp_lib.data import split_context
from nfp_lib.validation import check_video

ROLLOUT_KEYS = ("mse", "mae", "psnr", "ssim", "mse_sum")


def copy_last_frame(context: np.ndarray, horizon: int) -> np.ndarray:
    """The baseline forecast: the last seen frame, repeated ``horizon`` times."""
    return np.repeat(context[:, -1:], horizon, axis=1)


def predict_future(model: object, context: np.ndarray, horizon: int) -> np.ndarray:
    """Roll a model out for ``horizon`` frames: O(T) when it is causal, else the re-run loop."""
    backend = backend_of(model)
    roll = backend.rollout if backend.model_config(model).causal else backend.rollout_rerun
    return roll(model, context, horizon)


def evaluate(
    model: object, video: np.ndarray, context: int = 10, horizon: int | None = None
) -> dict:
    """Metrics of ``model`` on ``video`` (N, T, H, W, C).

    Returns a JSON-ready dict:
    - ``next_frame``: teacher-forced one-step prediction over the whole sequence, scalars
      ``mse``, ``mae``, ``psnr``, ``ssim`` (means over frames 1..T-1);
    - ``rollout``: the model fed its own predictions after ``context`` seen frames, lists over the
      ``horizon`` predicted frames of ``mse``, ``mae``, ``psnr``, ``ssim`` and ``mse_sum``
      (per-frame sum of squared errors, the literature's "MSE");
    - ``copy_last``: the same lists for the copy-the-last-seen-frame baseline.
    """
    video = check_video(video, "video", min_frames=2)
    seen, future = split_context(video, context, horizon)
    backend = backend_of(model)
    one_step = backend.predict_next(model, video)
    next_frame = {
        key: float(np.mean(getattr(metrics, key)(video[:, 1:], one_step)))
        for key in ("mse", "mae", "psnr", "ssim")
    }
    rolled = predict_future(model, seen, future.shape[1])
    return {
        "num_sequences": int(video.shape[0]),
        "context": int(seen.shape[1]),
        "horizon": int(future.shape[1]),
        "next_frame": next_frame,
        "rollout": _per_frame(future, rolled),
        "copy_last": _per_frame(future, copy_last_frame(seen, future.shape[1])),
    }


def _per_frame(truth: np.ndarray, pred: np.ndarray) -> dict[str, list[float]]:
    scores = metrics.frame_metrics(truth, pred)
    return {key: [float(v) for v in scores[key]] for key in ROLLOUT_KEYS}
