"""Prediction with numpy in and out: one step ahead, and multi-frame rollouts.

Arrays are channels-last float32 ``(N, T, H, W, C)`` in [0, 1], as everywhere in ``nfp_lib``;
the model sees PyTorch's ``(N, T, C, H, W)``. Every function runs in eval mode in inference
mode (no gradients), in batches of ``batch_size`` sequences, on ``device`` (default: where the
model is; a model elsewhere is moved there), and restores the model's training mode afterwards.
On a CPU the batches run one per thread at once (:func:`~nfp_lib.torch_backend.parallel.
thread_map`), each operation single-threaded, which keeps small recurrent steps busy on every
core.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import numpy as np
import torch

from nfp_lib.data import split_context
from nfp_lib.torch_backend.model import NextFramePredictor, model_config
from nfp_lib.torch_backend.parallel import cpu_workers, thread_map
from nfp_lib.validation import check_positive_int, check_video, progress_bar


def to_tensor(video: np.ndarray, device: str | torch.device | None = None) -> torch.Tensor:
    """Channels-last numpy ``(N, T, H, W, C)`` -> a float32 tensor ``(N, T, C, H, W)``."""
    return (
        torch.from_numpy(np.ascontiguousarray(video, np.float32))
        .to(device)
        .permute(0, 1, 4, 2, 3)
        .contiguous()
    )


def to_numpy(frames: torch.Tensor) -> np.ndarray:
    """A tensor ``(N, T, C, H, W)`` -> channels-last float32 numpy ``(N, T, H, W, C)``."""
    return frames.detach().permute(0, 1, 3, 4, 2).float().cpu().numpy()


def predict_next(
    model: NextFramePredictor,
    video: np.ndarray,
    batch_size: int = 32,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """Teacher-forced one-step predictions of frames ``1..T-1``: ``(N, T-1, H, W, C)``.

    Output frame ``t`` is predicted from the true frames ``0..t``.
    """
    video = _check(model, video, "video", min_frames=2)
    with _inference(model, device) as dev:
        return _batched(video, batch_size, dev, lambda x: model(x[:, :-1]))


def rollout(
    model: NextFramePredictor,
    context: np.ndarray,
    horizon: int,
    batch_size: int = 32,
    device: str | torch.device | None = None,
    progress: bool = False,
) -> np.ndarray:
    """Continue each clip by ``horizon`` frames fed back one by one: ``(N, horizon, H, W, C)``.

    The recurrent state is warmed on the ``context`` frames once, then each predicted frame is
    fed in as the next input with the state carried along, so the cost is O(context + horizon).
    Needs a causal model (``head="conv2d"``); for the conv3d head use :func:`rollout_rerun`.
    ``progress`` counts the predicted frames on stderr (on a terminal).
    """
    if not model_config(model).causal:
        raise ValueError(
            "rollout: the conv3d head looks one frame ahead, so its state cannot be carried "
            "frame by frame; use rollout_rerun(model, context, horizon), which re-runs the "
            "whole growing sequence for every new frame"
        )
    context = _check(model, context, "context")
    horizon = check_positive_int(horizon, "horizon")

    def roll(x: torch.Tensor) -> torch.Tensor:
        preds, state = model(x, return_state=True)
        frames = [preds[:, -1]]
        bar.update(len(x))
        for _ in range(horizon - 1):
            frame, state = model.step(frames[-1], state)
            frames.append(frame)
            bar.update(len(x))
        return torch.stack(frames, dim=1)

    with _inference(model, device) as dev, progress_bar(len(context) * horizon, progress) as bar:
        return _batched(context, batch_size, dev, roll)


def predict_and_rollout(
    model: NextFramePredictor,
    video: np.ndarray,
    context: int,
    horizon: int,
    batch_size: int = 32,
    device: str | torch.device | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """An evaluation's two predictions in one pass: ``(predict_next(model, video),
    rollout(model, video[:, :context], horizon))``.

    Both start by running the first ``context`` frames through the model, so here they run
    once: the teacher-forced pass goes on over the true frames from the state it has after
    ``context`` frames, and the rollout goes on from the same state with its own predictions.
    Needs a causal model and ``context`` < T.
    """
    if not model_config(model).causal:
        raise ValueError(
            "predict_and_rollout: expected a causal model (head 'conv2d'); for the conv3d "
            "head call predict_next and rollout_rerun"
        )
    video = _check(model, video, "video", min_frames=2)
    context = split_context(video, context)[0].shape[1]  # checked: 1 <= context < T
    horizon = check_positive_int(horizon, "horizon")
    frames = video.shape[1]

    def both(x: torch.Tensor) -> torch.Tensor:
        seen, state = model(x[:, :context], return_state=True)
        teacher_forced = [seen]
        if frames - 1 > context:
            teacher_forced.append(model(x[:, context:-1], state))
        predicted = [seen[:, -1]]
        for _ in range(horizon - 1):
            frame, state = model.step(predicted[-1], state)
            predicted.append(frame)
        return torch.cat([*teacher_forced, torch.stack(predicted, dim=1)], dim=1)

    with _inference(model, device) as dev:
        out = _batched(video, batch_size, dev, both)
    return out[:, : frames - 1], out[:, frames - 1 :]


def rollout_rerun(
    model: NextFramePredictor,
    context: np.ndarray,
    horizon: int,
    batch_size: int = 32,
    device: str | torch.device | None = None,
    progress: bool = False,
) -> np.ndarray:
    """Continue each clip by ``horizon`` frames the keras-io way: ``(N, horizon, H, W, C)``.

    For every new frame the whole sequence so far (context plus predictions) is run from the
    start and the last output appended: O((context + horizon)^2) frame steps. Works for any
    head; for a causal model it gives what :func:`rollout` gives, only slower. ``progress``
    counts the predicted frames on stderr (on a terminal).
    """
    context = _check(model, context, "context")
    horizon = check_positive_int(horizon, "horizon")

    def roll(x: torch.Tensor) -> torch.Tensor:
        seq = x
        for _ in range(horizon):
            seq = torch.cat([seq, model(seq)[:, -1:]], dim=1)
            bar.update(len(x))
        return seq[:, x.shape[1] :]

    with _inference(model, device) as dev, progress_bar(len(context) * horizon, progress) as bar:
        return _batched(context, batch_size, dev, roll)


def _check(model: NextFramePredictor, video: np.ndarray, name: str, min_frames: int = 1):
    return check_video(video, name, channels=model_config(model).channels, min_frames=min_frames)


@contextlib.contextmanager
def _inference(
    model: NextFramePredictor, device: str | torch.device | None
) -> Iterator[torch.device]:
    """Eval mode on ``device`` (default: where the model is)."""
    dev = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.to(dev).eval()
    try:
        yield dev
    finally:
        model.train(was_training)


def _batched(
    video: np.ndarray,
    batch_size: int,
    device: torch.device,
    fn: Callable[[torch.Tensor], torch.Tensor],
) -> np.ndarray:
    """``fn`` on ``batch_size`` sequences at a time, as tensors on ``device``, in inference
    mode (per thread, so entered in each); numpy back."""
    workers = cpu_workers(device)
    # batches of at most batch_size, as many as a multiple of the workers, and of one size, so
    # that every worker gets the same share (a few sequences split over the cores too)
    batches = -(-len(video) // check_positive_int(batch_size, "batch_size"))
    size = -(-len(video) // (-(-batches // workers) * workers))

    def run(start: int) -> np.ndarray:
        with torch.inference_mode():
            return to_numpy(fn(to_tensor(video[start : start + size], device)))

    return np.concatenate(thread_map(run, range(0, len(video), size), workers))
