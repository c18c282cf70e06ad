"""Fit a :class:`NextFramePredictor` on Moving MNIST from a :class:`~nfp_lib.config.Config`.

One function, :func:`fit`: seeded data and weights, Adam(W), BCE, MSE, L1 or SSIM on next-frame
targets (optionally another loss for the last epochs), learning-rate reduction on plateaus or a
cosine schedule, early stopping on the validation loss, optional scheduled sampling, a
checkpoint every epoch (committed whole through :class:`~nfp_lib.runs.RunFolder`, so a crash
never leaves a broken or mixed one) and ``resume=True`` to continue exactly where it stopped.
It uses bf16 autocast where the device computes bf16 natively (CUDA, or a CPU with AVX512-BF16
or AMX) and, on CUDA, channels-last convolutions. On a CPU, inside
:func:`~nfp_lib.torch_backend.parallel.thread_slices`, a model without batch norm trains each
batch as one slice per thread at once (for a machine busy with other work); launched
by ``torchrun`` with several processes it trains data-parallel (DDP).
"""

from __future__ import annotations

import functools
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler
from tqdm import tqdm

from nfp_lib import metrics
from nfp_lib.config import Config, teacher_forcing_probability
from nfp_lib.data import check_training_data, training_sequences
from nfp_lib.pretrained import load_start
from nfp_lib.runs import RunFolder, latest_dir
from nfp_lib.torch_backend.checkpoint import load_checkpoint, save_checkpoint
from nfp_lib.torch_backend.fast import channels_last_
from nfp_lib.torch_backend.losses import LOSSES
from nfp_lib.torch_backend.model import (
    NextFramePredictor,
    build_model,
    mirror_images,
    mirror_mean,
)
from nfp_lib.torch_backend.parallel import backward_in_slices, cpu_workers
from nfp_lib.torch_backend.rollout import to_numpy

HISTORY_KEYS = ("epoch", "loss", "val_loss", "val_mse", "val_ssim", "learning_rate", "time")
TRAIN_STATE_KEYS = ("optimizer", "scheduler", "epoch", "step", "history", "torch_rng")


def sampled_forward(
    model: NextFramePredictor, x: torch.Tensor, feed_truth: torch.Tensor, average: bool = False
) -> torch.Tensor:
    """Step through ``x`` ``(N, T, C, H, W)`` feeding either the true or the predicted frame.

    ``feed_truth`` ``(N, T)`` (bool) says, per sequence and step, whether the input at step
    ``t >= 1`` is the true frame ``x[:, t]`` or the model's own prediction of it from step
    ``t - 1``; step 0 always gets the true frame. Returns the predictions ``(N, T, C, H, W)``.
    Gradients flow through the fed-back predictions. With ``average`` (a training-mode model,
    which makes one pass) each step runs on the frame's four mirror images and predicts the
    mean of their predictions mirrored back, as a ``mirror_average`` model predicts.
    """
    if average and not model.training:
        raise ValueError(
            "sampled_forward: average=True makes the four mirror images for a model in training "
            "mode (one pass); in eval mode a mirror_average model averages by itself"
        )
    state, preds = None, []
    for t in range(x.shape[1]):
        frame = x[:, t]
        if t > 0:
            keep = feed_truth[:, t].view(-1, 1, 1, 1).to(frame.dtype)
            frame = keep * frame + (1 - keep) * preds[-1].to(frame.dtype)
        pred, state = model.step(mirror_images(frame) if average else frame, state)
        preds.append(mirror_mean(pred) if average else pred)
    return torch.stack(preds, dim=1)


class WeightAverage:
    """An exponential moving average of a model's parameters, kept as Keras' optimizers keep
    theirs (``use_ema``): the first update copies the weights, each later one moves the average
    ``1 - decay`` of the way to them. Buffers (batch-norm statistics) are not averaged."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.parameters = list(model.parameters())
        self.average = [p.detach().clone() for p in self.parameters]
        self.decay, self.updates = decay, 0

    @torch.no_grad()
    def update(self) -> None:
        """After an optimiser step: move the average toward the model's weights."""
        weight = 1.0 - self.decay if self.updates else 1.0
        for average, parameter in zip(self.average, self.parameters, strict=True):
            average.lerp_(parameter, weight)
        self.updates += 1

    @torch.no_grad()
    def swap(self) -> None:
        """Exchange the model's weights and the average (a second swap undoes the first)."""
        for average, parameter in zip(self.average, self.parameters, strict=True):
            kept = parameter.detach().clone()
            parameter.copy_(average)
            average.copy_(kept)


class _Net(nn.Module):
    """The predictor plus scheduled sampling in one ``forward``, so DDP sees both paths; with
    ``average`` it trains through the mirror average (``TrainConfig.average_mirrors``)."""

    def __init__(self, model: NextFramePredictor, average: bool = False) -> None:
        super().__init__()
        self.model, self.average = model, average

    def forward(self, x: torch.Tensor, feed_truth: torch.Tensor | None = None) -> torch.Tensor:
        if feed_truth is not None:
            return sampled_forward(self.model, x, feed_truth, self.average)
        if self.average:
            return mirror_mean(self.model(mirror_images(x)))
        return self.model(x)


def fit(
    config: Config,
    out_dir: str | Path,
    resume: bool = False,
    device: str | torch.device | None = None,
    progress: bool = True,
    train_data: np.ndarray | None = None,
    val_data: np.ndarray | None = None,
    overwrite: bool = False,
) -> dict[str, list]:
    """Train ``config``'s model; returns the history (one list per key of ``HISTORY_KEYS``).

    ``out_dir`` is a :class:`~nfp_lib.runs.RunFolder`: every epoch commits ``history.json``,
    ``model.pt`` (the full training state) and ``best.pt`` (the weights with the lowest
    validation loss) together. ``resume=True`` continues from the committed epoch with the same
    optimizer, schedule, history and random state, so an interrupted run ends as an
    uninterrupted one would; every setting but ``epochs`` must match. A folder holding a run is
    refused unless ``resume`` or ``overwrite`` (move the old run aside) is given.

    Data: ``train_data`` / ``val_data`` (N, T, H, W, C) when given, else Moving MNIST generated
    from ``config.train`` (seeded; new training sequences every epoch with ``fresh_data``).
    ``device`` defaults to CUDA when present. Ctrl-C raises ``KeyboardInterrupt`` with the last
    committed epoch kept. Under ``torchrun`` with ``WORLD_SIZE > 1`` every process trains on its
    shard of each epoch with ``batch_size`` sequences per step and only rank 0 writes files or
    shows progress.
    """
    if not isinstance(config, Config):
        raise ValueError(f"config: expected a Config, got {type(config).__name__}")
    if config.train.sampling_steps > 0 and not config.model.causal:
        raise ValueError(
            "sampling_steps: scheduled sampling feeds predictions back frame by frame, which "
            "needs a causal head='conv2d' model, got head='conv3d'"
        )
    out_dir = Path(out_dir)
    train_data = check_training_data(train_data, "train_data", config)
    val_data = check_training_data(val_data, "val_data", config)
    device, rank, world, owns_group = _start(device)
    run = None
    try:
        run = _open_run(out_dir, config, resume, overwrite, device, rank, world)
        return _fit(
            config, out_dir, resume, device, progress, train_data, val_data, rank, world, run
        )
    finally:
        if run:
            run.close()
        if owns_group:
            dist.destroy_process_group()


def _open_run(out_dir, config, resume, overwrite, device, rank, world) -> RunFolder | None:
    """Rank 0 opens (and alone writes) the run folder; under ``torchrun`` every rank learns
    whether it could, so that a refused start stops them all."""
    run, refused = None, None
    if rank == 0:
        try:
            run = RunFolder.open(out_dir, config, resume, overwrite)
        except ValueError as err:
            refused = err
    if world > 1:
        opened = torch.tensor([refused is None], dtype=torch.int32, device=device)
        dist.broadcast(opened, 0)
        if not opened.item() and rank > 0:
            raise ValueError(f"--out {out_dir}: rank 0 could not open the run folder")
    if refused:
        raise refused
    return run


def _fit(config, out_dir, resume, device, progress, train_data, val_data, rank, world, run):
    """:func:`fit` once the inputs are checked and this process knows its device and rank."""
    tc = config.train
    cuda = device.type == "cuda"
    torch.manual_seed(tc.seed)
    if cuda:
        torch.backends.cudnn.benchmark = True
    model = build_model(config.model)
    saved = run.resume_dir if run else latest_dir(out_dir) if resume else None
    start = None if saved else load_start(config, "torch")  # a resumed run has its weights
    if start is not None:
        model.load_state_dict(start.state_dict())
    model = model.to(device)
    if cuda:
        channels_last_(model)
    optimizer_class = torch.optim.AdamW if tc.optimizer == "adamw" else torch.optim.Adam
    optimizer = optimizer_class(
        model.parameters(), lr=tc.learning_rate, weight_decay=tc.weight_decay
    )
    scheduler = _scheduler(optimizer, tc, train_data, world)
    average = WeightAverage(model, tc.ema_decay) if tc.ema_decay else None
    state = {
        "epoch": 0,
        "step": 0,
        "history": {key: [] for key in HISTORY_KEYS},
        "best_val_loss": math.inf,
        "bad_epochs": 0,
    }
    if saved:
        state = _resume(saved / "model.pt", model, optimizer, scheduler, average)
    net = _Net(model, tc.average_mirrors)
    workers = training_workers(config, device, world)
    if world > 1:
        net = DistributedDataParallel(net, device_ids=[device] if cuda else None)
    if val_data is None:
        val_data = training_sequences(tc, "val")

    history, video = state["history"], train_data
    for epoch in range(state["epoch"] + 1, tc.epochs + 1):
        if state["bad_epochs"] >= tc.early_stopping_patience:
            if progress and rank == 0:
                print(f"early stopping: val_loss did not improve for {state['bad_epochs']} epochs")
            break
        loss_name = tc.loss_at(epoch)
        if epoch > 1 and loss_name != tc.loss_at(epoch - 1):  # a new loss starts a new record
            state["best_val_loss"], state["bad_epochs"] = math.inf, 0
            if tc.lr_schedule == "plateau":
                scheduler.best, scheduler.num_bad_epochs = math.inf, 0
        if train_data is None and (video is None or tc.fresh_data):
            video = training_sequences(tc, "train", epoch)
        sampler = DistributedSampler(
            range(len(video)), num_replicas=world, rank=rank, shuffle=True, seed=tc.seed
        )
        sampler.set_epoch(epoch)
        start = time.perf_counter()
        bar = tqdm(
            total=math.ceil(sampler.num_samples / tc.batch_size),
            desc=f"epoch {epoch}/{tc.epochs}",
            unit="batch",
            disable=not progress or rank != 0,
            file=sys.stdout,
        )
        learning_rate = optimizer.param_groups[0]["lr"]
        per_batch = None if tc.lr_schedule == "plateau" else scheduler
        try:
            loss_fn = LOSSES[loss_name]
            loss, state["step"] = _train_epoch(
                net,
                optimizer,
                per_batch,
                average,
                loss_fn,
                video,
                list(sampler),
                tc,
                device,
                state["step"],
                bar,
                workers,
            )
            if average:  # validate and save the averaged weights; train on with the others
                average.swap()
            val = _validate(model, loss_fn, val_data, tc, device, rank, world)
            if tc.lr_schedule == "plateau":
                scheduler.step(val["val_loss"])
            improved = val["val_loss"] < state["best_val_loss"]
            if improved:
                state["best_val_loss"], state["bad_epochs"] = val["val_loss"], 0
            else:
                state["bad_epochs"] += 1
            row = {"epoch": epoch, "loss": loss, **val, "learning_rate": learning_rate}
            row["time"] = time.perf_counter() - start
            for key in HISTORY_KEYS:
                history[key].append(row[key])
            bar.set_postfix({k: f"{row[k]:.4g}" for k in ("loss", "val_loss", "val_ssim")})
            if run:
                parts = (model, config, optimizer, scheduler, average, state, epoch, improved)
                run.commit_epoch(epoch, functools.partial(_save, *parts), keep=("best.pt",))
            if average:
                average.swap()
        finally:
            bar.close()
    return {key: list(values) for key, values in history.items()}


def _scheduler(optimizer, tc, train_data, world: int):
    """ReduceLROnPlateau, or a per-batch half cosine from the learning rate to 0 over the run."""
    if tc.lr_schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=tc.lr_factor, patience=tc.lr_patience
        )
    sequences = tc.num_train if train_data is None else len(train_data)
    total = tc.epochs * math.ceil(math.ceil(sequences / world) / tc.batch_size)
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)


def _start(device: str | torch.device | None) -> tuple[torch.device, int, int, bool]:
    """The device, rank and world size; joins the process group under ``torchrun``."""
    device = _check_device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return device, 0, 1, False
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    owns_group = not dist.is_initialized()
    if owns_group:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device, dist.get_rank(), dist.get_world_size(), owns_group


def training_workers(config: Config, device: torch.device, world: int = 1) -> int:
    """How many slices of each batch :func:`fit` trains at once, one per thread: on a CPU inside
    :func:`~nfp_lib.torch_backend.parallel.thread_slices`, one per intra-op thread, up to the
    batch size; else 1, and always 1 with batch norm (a slice's statistics are not the batch's)
    and under DDP."""
    if world > 1 or config.model.norm != "none":
        return 1
    return min(cpu_workers(device), config.train.batch_size)


def _check_device(device: str | torch.device) -> torch.device:
    """``device`` as a ``torch.device`` this machine has, else a ``ValueError`` naming it."""
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(
            f"--device: expected a torch device such as cpu or cuda, got {device!r}"
        ) from None
    available = {"cpu": True, "cuda": torch.cuda.is_available()}
    if device.type == "mps":
        available["mps"] = torch.backends.mps.is_available()
    if not available.get(device.type, False):
        raise ValueError(f"--device: {device} is not available on this machine")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise ValueError(f"--device: {device} does not exist ({torch.cuda.device_count()} GPUs)")
    return device


def _frames(video: np.ndarray, device: torch.device) -> torch.Tensor:
    """Numpy (N, T, H, W, C) -> (N, T, C, H, W) on ``device``; each frame channels-last on CUDA."""
    x = torch.from_numpy(np.ascontiguousarray(video, np.float32)).to(device, non_blocking=True)
    x = x.permute(0, 1, 4, 2, 3)
    return x if device.type == "cuda" else x.contiguous()


def bf16_native(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 natively: a CUDA GPU, or a CPU whose oneDNN has bf16
    instructions (AVX512-BF16 or AMX). Elsewhere bf16 would be emulated, slower than float32."""
    if device.type == "cuda":
        return True
    return device.type == "cpu" and torch.ops.mkldnn._is_mkldnn_bf16_supported()


def _autocast(tc, device: torch.device):
    enabled = tc.mixed_precision and bf16_native(device)
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)


def _train_epoch(
    net, optimizer, scheduler, average, loss_fn, video, indices, tc, device, step, bar, workers
) -> tuple[float, int]:
    """One pass over ``indices``; returns the mean training loss and the new step count.

    ``scheduler`` and ``average`` (a :class:`WeightAverage`), when given, update after every
    batch. Each batch's forward and backward pass run as ``workers`` slices at once
    (:func:`~nfp_lib.torch_backend.parallel.backward_in_slices`).
    """

    def loss_of(x, y, feed_truth):
        with _autocast(tc, device):  # autocast is per thread: entered in each slice's thread
            pred = net(x, feed_truth)
        return loss_fn(pred.float(), y)  # in float32, outside autocast (BCE is unsafe in bf16)

    net.train()
    parameters = list(net.parameters())
    total = torch.zeros((), dtype=torch.float64, device=device)
    for i in range(0, len(indices), tc.batch_size):
        batch = _frames(video[indices[i : i + tc.batch_size]], device)
        x, y = batch[:, :-1], batch[:, 1:]
        feed_truth = None
        if tc.sampling_steps > 0:
            p = teacher_forcing_probability(
                step, tc.sampling_steps, tc.sampling_end, tc.sampling_start
            )
            feed_truth = torch.rand(x.shape[:2]) < p
            feed_truth[:, : tc.context_frames] = True  # the seen frames are always true
            feed_truth = feed_truth.to(device)
        optimizer.zero_grad(set_to_none=True)
        loss = backward_in_slices(loss_of, (x, y, feed_truth), parameters, workers)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        if average is not None:
            average.update()
        step += 1
        total += loss * len(x)
        bar.update()
        if bar.n % 10 == 1 and not bar.disable:
            bar.set_postfix(loss=f"{loss.item():.4g}")
    sums = torch.stack([total, torch.tensor(float(len(indices)), device=device).double()])
    if dist.is_initialized():
        dist.all_reduce(sums)
        for buffer in net.buffers():  # batch-norm statistics of the last step: take rank 0's
            dist.broadcast(buffer, 0)
    return float(sums[0] / sums[1]), step


def _validate(model, loss_fn, video, tc, device, rank, world) -> dict[str, float]:
    """Teacher-forced validation loss, MSE and SSIM, averaged over sequences (and processes)."""
    model.eval()
    shard = video[rank::world]
    sums = np.zeros(4)
    with torch.no_grad():
        for i in range(0, len(shard), tc.batch_size):
            part = shard[i : i + tc.batch_size]
            batch = _frames(part, device)
            with _autocast(tc, device):
                pred = model(batch[:, :-1])
            pred = pred.float()
            n = len(part)
            truth, guess = part[:, 1:], to_numpy(pred)
            sums += [
                loss_fn(pred, batch[:, 1:]).item() * n,
                metrics.mse(truth, guess).mean() * n,
                metrics.ssim(truth, guess).mean() * n,
                n,
            ]
    totals = torch.tensor(sums, dtype=torch.float64, device=device)
    if dist.is_initialized():
        dist.all_reduce(totals)
    loss, mse, ssim, n = totals.tolist()
    return {"val_loss": loss / n, "val_mse": mse / n, "val_ssim": ssim / n}


def _resume(path: Path, model, optimizer, scheduler, average) -> dict:
    """Restore a training state from ``path`` into the given objects; returns the counters.

    The run folder has checked that its config is this run's. With a weight average the
    checkpoint's ``model`` holds the average and ``train_weights`` the weights that training
    goes on from.
    """
    _, _, checkpoint = load_checkpoint(path)
    missing = [key for key in TRAIN_STATE_KEYS if key not in checkpoint]
    if missing:
        raise ValueError(f"resume: {path} is not a training checkpoint (no {', '.join(missing)})")
    model.load_state_dict(checkpoint["model"])
    if average:  # saved while swapped: put the training weights beside it and swap back
        for kept, weights in zip(average.average, checkpoint["train_weights"], strict=True):
            kept.copy_(weights)
        average.updates = int(checkpoint["average_updates"])
        average.swap()
    optimizer.load_state_dict(checkpoint["optimizer"])
    scheduler.load_state_dict(checkpoint["scheduler"])
    torch.set_rng_state(checkpoint["torch_rng"])
    return {
        "epoch": int(checkpoint["epoch"]),
        "step": int(checkpoint["step"]),
        "history": {key: list(checkpoint["history"][key]) for key in HISTORY_KEYS},
        "best_val_loss": float(checkpoint["best_val_loss"]),
        "bad_epochs": int(checkpoint["bad_epochs"]),
    }


def _save(model, config, optimizer, scheduler, average, state, epoch, improved, folder) -> None:
    """``model.pt`` (full state), ``best.pt`` when improved, and ``history.json`` into the
    epoch's ``folder``.

    With a weight average the model holds the average now, and ``average`` the training weights.
    """
    averaging = {}
    if average:
        averaging = {"train_weights": average.average, "average_updates": average.updates}
    save_checkpoint(
        folder / "model.pt",
        model,
        config,
        optimizer=optimizer.state_dict(),
        scheduler=scheduler.state_dict(),
        epoch=epoch,
        step=state["step"],
        history=state["history"],
        best_val_loss=state["best_val_loss"],
        bad_epochs=state["bad_epochs"],
        torch_rng=torch.get_rng_state(),
        **averaging,
    )
    if improved:
        save_checkpoint(folder / "best.pt", model, config, epoch=epoch)
    (folder / "history.json").write_text(json.dumps(state["history"], indent=2) + "\n")
