"""Training the PyTorch model: history, checkpoints, exact resume, interrupts, sampling."""

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

import nfp_lib.data as data_module
import nfp_lib.torch_backend.train as train_module
from nfp_lib.config import Config, ModelConfig, TrainConfig
from nfp_lib.data import generate_moving_mnist
from nfp_lib.torch_backend import (
    CHECKPOINT_FORMAT,
    HISTORY_KEYS,
    NextFramePredictor,
    bf16_native,
    build_model,
    fit,
    load_checkpoint,
    predict_next,
    rollout,
    rollout_rerun,
    sampled_forward,
    save_checkpoint,
    teacher_forcing_probability,
    to_numpy,
)
from nfp_lib.torch_backend.parallel import intra_op_threads, thread_slices

# float32, so results compare exactly; test_mixed_precision_* covers bf16.
TINY = Config(
    ModelConfig(filters=(4, 4), kernel_sizes=(3, 3), norm="batch", patch_size=4),
    TrainConfig(
        epochs=2,
        batch_size=8,
        num_train=16,
        num_val=4,
        num_frames=6,
        image_size=32,
        mixed_precision=False,
    ),
)


def _fit(config: Config, out, **kwargs) -> dict:
    return fit(config, out, device="cpu", progress=False, **kwargs)


def _weights(path) -> dict:
    return load_checkpoint(path)[0].state_dict()


def _same_history(a: dict, b: dict) -> None:
    assert a["epoch"] == b["epoch"]
    for key in set(HISTORY_KEYS) - {"epoch", "time"}:
        np.testing.assert_allclose(a[key], b[key], rtol=1e-6, err_msg=key)


def _same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-6, msg=key)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    return out, _fit(TINY, out)


def test_fit_writes_history_config_and_checkpoints(run):
    out, history = run
    assert tuple(history) == HISTORY_KEYS
    assert history["epoch"] == [1, 2]
    assert all(len(values) == 2 for values in history.values())
    assert all(0 < v < 1 for v in history["loss"] + history["val_loss"] + history["val_mse"])
    assert all(-1 <= v <= 1 for v in history["val_ssim"])
    assert history["learning_rate"] == [TINY.train.learning_rate] * 2
    assert json.loads((out / "history.json").read_text()) == history
    assert json.loads((out / "config.json").read_text()) == TINY.to_dict()
    model, config, checkpoint = load_checkpoint(out / "model.pt")
    assert isinstance(model, NextFramePredictor) and not model.training
    assert config == TINY and checkpoint["format"] == CHECKPOINT_FORMAT
    assert checkpoint["epoch"] == 2 and checkpoint["history"] == history
    assert checkpoint["best_val_loss"] == min(history["val_loss"])
    assert {"optimizer", "scheduler", "torch_rng", "bad_epochs"} <= checkpoint.keys()
    best = load_checkpoint(out / "best.pt")[2]
    assert best["epoch"] == 1 + int(np.argmin(history["val_loss"]))


def test_resume_continues_exactly_like_an_uninterrupted_run(run, tmp_path):
    out, history = run
    first = _fit(TINY.replace(train={"epochs": 1}), tmp_path)
    assert first["loss"][0] == history["loss"][0]  # same seed, same first epoch
    resumed = _fit(TINY, tmp_path, resume=True)
    _same_history(resumed, history)
    _same_weights(_weights(tmp_path / "model.pt"), _weights(out / "model.pt"))
    _same_history(_fit(TINY, tmp_path, resume=True), history)  # finished: nothing more to do


def test_in_thread_slices_fit_trains_in_slices_and_resumes_exactly(tmp_path, monkeypatch):
    config = TINY.replace(model={"norm": "none"})
    workers = []
    real = train_module.backward_in_slices

    def spy(*args):
        workers.append(args[-1])
        return real(*args)

    monkeypatch.setattr(train_module, "backward_in_slices", spy)
    plain = _fit(config, tmp_path / "plain")  # tests run on one thread: one slice
    assert set(workers) == {1}
    with intra_op_threads(2):
        _fit(config, tmp_path / "default")  # two threads, but slices are off by default
        assert set(workers) == {1}
    with intra_op_threads(2), thread_slices():
        sliced = _fit(config, tmp_path / "sliced")
        assert set(workers) == {1, 2}
        _fit(config.replace(train={"epochs": 1}), tmp_path / "resumed")
        resumed = _fit(config, tmp_path / "resumed", resume=True)
        workers.clear()
        _fit(TINY.replace(train={"epochs": 1}), tmp_path / "norm")  # batch norm: one slice
        assert set(workers) == {1}
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(sliced[key], plain[key], rtol=1e-5)
        assert resumed[key] == sliced[key]
    slices, whole = _weights(tmp_path / "sliced/model.pt"), _weights(tmp_path / "plain/model.pt")
    again = _weights(tmp_path / "resumed/model.pt")
    for key in whole:
        torch.testing.assert_close(slices[key], whole[key], rtol=1e-4, atol=1e-5)
        assert torch.equal(again[key], slices[key])


def test_another_seed_gives_another_first_epoch(run, tmp_path):
    other = _fit(TINY.replace(train={"epochs": 1, "seed": 1}), tmp_path)
    assert other["loss"][0] != run[1]["loss"][0]


def test_loss_decreases_on_fixed_data(tmp_path):
    video = generate_moving_mnist(8, num_frames=5, size=32, seed=3)
    config = TINY.replace(train={"epochs": 6, "learning_rate": 1e-2, "batch_size": 4})
    history = _fit(config, tmp_path, train_data=video, val_data=video[:2])
    assert history["loss"][-1] < 0.8 * history["loss"][0]
    assert history["val_loss"][-1] < history["val_loss"][0]


@pytest.mark.parametrize("loss", ["bce", "l1", "mse", "ssim", "ssim_bce"])
def test_validation_loss_is_the_configured_loss(tmp_path, loss, reference_losses):
    video = generate_moving_mnist(4, num_frames=5, size=32, seed=3)
    config = TINY.replace(train={"epochs": 1, "batch_size": 4, "loss": loss})
    history = _fit(config, tmp_path, train_data=video, val_data=video[:2])
    model = load_checkpoint(tmp_path / "model.pt")[0]
    pred = predict_next(model, video[:2]).astype(np.float64)
    expected = reference_losses[loss](video[:2, 1:].astype(np.float64), pred)
    assert history["val_loss"] == pytest.approx([expected], rel=1e-4)


@pytest.mark.skipif(not bf16_native(torch.device("cpu")), reason="no native bf16 on this CPU")
def test_mixed_precision_runs_the_forward_pass_in_bf16_on_a_cpu_that_has_it(tmp_path):
    video = generate_moving_mnist(4, num_frames=5, size=32, seed=3)
    config = TINY.replace(train={"epochs": 1, "batch_size": 4})
    full = _fit(config, tmp_path / "fp32", train_data=video, val_data=video[:2])
    mixed = config.replace(train={"mixed_precision": True})
    half = _fit(mixed, tmp_path / "bf16", train_data=video, val_data=video[:2])
    assert half["loss"][0] != full["loss"][0]  # the forward pass really ran in bf16
    assert half["loss"][0] == pytest.approx(full["loss"][0], rel=0.02)
    assert half["val_ssim"][0] == pytest.approx(full["val_ssim"][0], abs=0.02)


def test_weight_average_copies_then_follows_the_keras_rule_and_swaps_back():
    model = torch.nn.Linear(2, 1)
    average = train_module.WeightAverage(model, decay=0.9)
    for value in (1.0, 2.0, 4.0):  # the weights after three optimiser steps
        with torch.no_grad():
            model.weight.fill_(value)
        average.update()
    expected = 0.9 * (0.9 * 1.0 + 0.1 * 2.0) + 0.1 * 4.0  # the first update copies
    torch.testing.assert_close(average.average[0], torch.full((1, 2), expected))
    average.swap()
    torch.testing.assert_close(model.weight.detach(), torch.full((1, 2), expected))
    torch.testing.assert_close(average.average[0], torch.full((1, 2), 4.0))
    average.swap()
    torch.testing.assert_close(model.weight.detach(), torch.full((1, 2), 4.0))


def test_ema_validates_and_saves_the_average_and_resumes_exactly(tmp_path, reference_losses):
    clips = generate_moving_mnist(8, num_frames=5, size=32, seed=3)
    data = {"train_data": clips, "val_data": clips[:2]}
    config = TINY.replace(train={"batch_size": 4, "ema_decay": 0.5, "learning_rate": 1e-2})
    straight = _fit(config, tmp_path / "straight", **data)
    model, _, checkpoint = load_checkpoint(tmp_path / "straight" / "model.pt")
    pred = predict_next(model, clips[:2]).astype(np.float64)
    expected = reference_losses["bce"](clips[:2, 1:].astype(np.float64), pred)
    assert straight["val_loss"][-1] == pytest.approx(expected, rel=1e-4)  # the average's loss
    assert checkpoint["average_updates"] == 2 * 2
    trained = checkpoint["train_weights"]
    assert len(trained) == len(list(model.parameters()))
    assert not all(torch.equal(w, p) for w, p in zip(trained, model.parameters(), strict=True))

    _fit(config.replace(train={"epochs": 1}), tmp_path / "resumed", **data)
    resumed = _fit(config, tmp_path / "resumed", resume=True, **data)
    _same_history(resumed, straight)
    _same_weights(
        _weights(tmp_path / "resumed" / "model.pt"), _weights(tmp_path / "straight" / "model.pt")
    )
    with pytest.raises(ValueError, match="ema_decay"):
        _fit(
            config.replace(train={"epochs": 3, "ema_decay": 0.0}), tmp_path / "resumed", resume=True
        )


def test_finish_loss_trains_the_last_epochs_and_resumes_across_the_switch(
    tmp_path, monkeypatch, reference_losses
):
    video = generate_moving_mnist(8, num_frames=5, size=32, seed=3)
    data = {"train_data": video, "val_data": video[:2]}
    # L1, then BCE, whose values are larger: only a fresh record makes epoch 3 the best
    config = TINY.replace(
        train={
            "epochs": 4,
            "loss": "l1",
            "finish_loss": "bce",
            "finish_from": 3,
            "lr_patience": 0,
        }
    )
    straight = _fit(config, tmp_path / "straight", **data)
    model, _, checkpoint = load_checkpoint(tmp_path / "straight" / "model.pt")
    pred = predict_next(model, video[:2]).astype(np.float64)
    bce = reference_losses["bce"](video[:2, 1:].astype(np.float64), pred)
    assert straight["val_loss"][3] == pytest.approx(bce, rel=1e-4)
    assert min(straight["val_loss"][:2]) < straight["val_loss"][2]
    assert checkpoint["best_val_loss"] == min(straight["val_loss"][2:])
    assert straight["learning_rate"][3] == straight["learning_rate"][2]  # epoch 3 was no plateau

    real, calls = train_module._train_epoch, []

    def interrupt_epoch_3(*args):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(train_module, "_train_epoch", interrupt_epoch_3)
    with pytest.raises(KeyboardInterrupt):
        _fit(config, tmp_path / "resumed", **data)
    assert load_checkpoint(tmp_path / "resumed" / "model.pt")[2]["epoch"] == 2
    monkeypatch.setattr(train_module, "_train_epoch", real)
    resumed = _fit(config, tmp_path / "resumed", resume=True, **data)
    _same_history(straight, resumed)
    _same_weights(
        _weights(tmp_path / "straight" / "model.pt"), _weights(tmp_path / "resumed" / "model.pt")
    )


def test_the_leaky_conv3d_head_trains_and_rolls_out_by_rerunning(tmp_path):
    history = _fit(TINY.replace(model={"head": "conv3d"}, train={"epochs": 1}), tmp_path)
    assert history["epoch"] == [1] and np.isfinite(history["loss"]).all()
    model, config, _ = load_checkpoint(tmp_path / "model.pt")
    assert isinstance(model.head, torch.nn.Conv3d) and not config.model.causal
    context = generate_moving_mnist(2, num_frames=3, size=32, seed=5)
    assert rollout_rerun(model, context, 2).shape == (2, 2, 32, 32, 1)


def test_generated_data_is_seeded_and_fresh_each_epoch_when_asked(tmp_path, monkeypatch):
    seeds = []

    def spy(num, **kwargs):
        seeds.append((num, kwargs["seed"]))
        return generate_moving_mnist(num, **kwargs)

    monkeypatch.setattr(data_module, "generate_moving_mnist", spy)
    config = TINY.replace(train={"epochs": 3, "num_train": 8})
    _fit(config, tmp_path / "fixed")
    fixed = seeds.copy()
    assert [n for n, _ in fixed] == [4, 8]  # validation once, training once
    seeds.clear()
    _fit(config.replace(train={"fresh_data": True}), tmp_path / "fresh")
    train_seeds = [s for n, s in seeds if n == 8]
    assert len(set(train_seeds)) == 3 and train_seeds[0] == fixed[1][1]
    assert [s for n, s in seeds if n == 4] == [fixed[0][1]]


def test_bad_data_and_config_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="train_data: expected 1 channel"):
        _fit(TINY, tmp_path, train_data=np.zeros((2, 4, 32, 32, 3), np.float32))
    with pytest.raises(ValueError, match="val_data: expected at least 2 frames"):
        _fit(TINY, tmp_path, val_data=np.zeros((2, 1, 32, 32, 1), np.float32))
    with pytest.raises(ValueError, match="train_data: expected 32x32 frames"):  # as Keras says
        _fit(TINY, tmp_path, train_data=np.zeros((2, 4, 64, 64, 1), np.float32))
    with pytest.raises(ValueError, match="Config"):
        _fit(TINY.model, tmp_path)
    leaky = TINY.replace(
        model={"head": "conv3d"}, train={"sampling_steps": 10, "context_frames": 3}
    )
    with pytest.raises(ValueError, match="scheduled sampling .* needs a causal"):
        _fit(leaky, tmp_path)
    assert not any(tmp_path.iterdir())


def test_learning_rate_reduction_and_early_stopping(tmp_path, monkeypatch):
    epochs = []

    def worsening(*args):
        epochs.append(len(epochs) + 1)
        return {"val_loss": float(len(epochs)), "val_mse": 0.1, "val_ssim": 0.5}

    monkeypatch.setattr(train_module, "_validate", worsening)
    config = TINY.replace(train={"epochs": 10, "lr_patience": 0, "early_stopping_patience": 2})
    history = _fit(config, tmp_path)
    assert history["epoch"] == [1, 2, 3]  # best at 1, then two epochs without improvement
    assert history["learning_rate"] == [1e-3, 1e-3, 5e-4]
    assert load_checkpoint(tmp_path / "best.pt")[2]["epoch"] == 1


def test_cosine_schedule_falls_to_zero_over_the_run_and_fixes_its_length(tmp_path):
    config = TINY.replace(train={"lr_schedule": "cosine"})  # 2 epochs of 2 batches
    history = _fit(config, tmp_path)
    rate = config.train.learning_rate
    assert history["learning_rate"] == pytest.approx([rate, rate / 2])  # at each epoch's start
    checkpoint = load_checkpoint(tmp_path / "model.pt")[2]
    assert checkpoint["optimizer"]["param_groups"][0]["lr"] == pytest.approx(0, abs=1e-12)
    with pytest.raises(ValueError, match="cosine"):
        _fit(config.replace(train={"epochs": 3}), tmp_path, resume=True)
    with pytest.raises(ValueError, match="plateau"):
        _fit(TINY, tmp_path, resume=True)


def test_teacher_forcing_probability_falls_linearly():
    assert teacher_forcing_probability(0, 0, 0.0) == 1.0
    assert teacher_forcing_probability(10**6, 0, 0.0) == 1.0
    assert teacher_forcing_probability(0, 100, 0.2) == 1.0
    assert teacher_forcing_probability(50, 100, 0.2) == pytest.approx(0.6)
    assert teacher_forcing_probability(100, 100, 0.2) == pytest.approx(0.2)
    assert teacher_forcing_probability(500, 100, 0.2) == pytest.approx(0.2)
    assert teacher_forcing_probability(300, 100, 0.2, sampling_start=300) == 1.0
    assert teacher_forcing_probability(350, 100, 0.2, sampling_start=300) == pytest.approx(0.6)
    assert teacher_forcing_probability(10**6, 100, 0.2, sampling_start=300) == pytest.approx(0.2)


def test_sampled_forward_feeds_back_predictions_or_truth():
    torch.manual_seed(0)
    model = build_model(TINY.model).eval()
    x = torch.rand(2, 5, 1, 16, 16)
    never, always = torch.zeros(2, 5, dtype=torch.bool), torch.ones(2, 5, dtype=torch.bool)
    with torch.no_grad():
        free = sampled_forward(model, x, never)
        other = x.clone()
        other[:, 1:] = torch.rand_like(other[:, 1:])
        assert torch.equal(sampled_forward(model, other, never), free)  # only frame 0 is seen
        torch.testing.assert_close(sampled_forward(model, x, always), model(x), rtol=0, atol=1e-6)
        mixed = never.clone()
        mixed[1, 2] = True  # sequence 1 gets the true frame 2 at step 2
        out = sampled_forward(model, x, mixed)
    np.testing.assert_allclose(to_numpy(free), rollout(model, to_numpy(x[:, :1]), 5), atol=1e-6)
    assert torch.equal(out[0], free[0]) and torch.equal(out[1, :2], free[1, :2])
    assert not torch.equal(out[1, 2], free[1, 2])


def test_training_through_the_mirror_average_predicts_as_the_averaging_model():
    torch.manual_seed(0)
    averaging = dataclasses.replace(TINY.model, norm="none", mirror_average=True)
    model = build_model(averaging)  # no batch norm: training and predicting compute alike
    x = torch.rand(2, 5, 1, 16, 16)
    feed_truth = torch.zeros(2, 5, dtype=torch.bool)
    feed_truth[:, :2] = True
    model.train()  # one pass a step: the four images are a batch of 8
    free = sampled_forward(model, x, feed_truth, average=True)
    taught = train_module._Net(model, average=True)(x)
    one_pass = sampled_forward(model, x, feed_truth)
    free.sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.eval()  # predicting, the model averages the four itself
    with torch.no_grad():
        torch.testing.assert_close(free, sampled_forward(model, x, feed_truth), atol=1e-6, rtol=0)
        torch.testing.assert_close(taught, model(x), atol=1e-6, rtol=0)
        with pytest.raises(ValueError, match="training mode"):
            sampled_forward(model, x, feed_truth, average=True)  # would mirror twice
    assert (free - one_pass).abs().max() > 1e-3


def test_fit_trains_through_the_mirror_average_when_asked(tmp_path, monkeypatch):
    batches = []
    step = NextFramePredictor.step

    def spy(self, frame, state=None):
        batches.append(len(frame))
        return step(self, frame, state)

    monkeypatch.setattr(NextFramePredictor, "step", spy)
    train = {"epochs": 1, "sampling_steps": 4, "context_frames": 3, "num_val": 2}
    config = TINY.replace(model={"mirror_average": True}, train=train)
    _fit(config, tmp_path / "one-pass")
    assert set(batches) == {8}  # batches of 8 sequences, one pass each
    batches.clear()
    _fit(config.replace(train={"average_mirrors": True}), tmp_path / "averaged")
    assert set(batches) == {32}  # each sequence's four mirror images


@pytest.mark.parametrize("sampling_steps", [0, 4])
def test_fit_steps_frame_by_frame_only_with_scheduled_sampling(
    tmp_path, monkeypatch, sampling_steps
):
    calls = []
    step = NextFramePredictor.step

    def spy(self, frame, state=None):
        calls.append(self.training)
        return step(self, frame, state)

    monkeypatch.setattr(NextFramePredictor, "step", spy)
    config = TINY.replace(
        train={"epochs": 1, "sampling_steps": sampling_steps, "context_frames": 3}
    )
    history = _fit(config, tmp_path)
    # 16 sequences in batches of 8, 5 input frames each: 2 * 5 steps with sampling, none without
    assert calls == ([True] * 10 if sampling_steps else [])
    assert load_checkpoint(tmp_path / "model.pt")[2]["step"] == 2
    assert history["epoch"] == [1]


def test_scheduled_sampling_always_shows_the_context_and_ends_free_running(tmp_path, monkeypatch):
    seen = []
    original = train_module.sampled_forward

    def spy(model, x, feed_truth, average=False):
        seen.append(feed_truth.clone())
        return original(model, x, feed_truth, average)

    monkeypatch.setattr(train_module, "sampled_forward", spy)
    config = TINY.replace(
        train={"epochs": 1, "sampling_steps": 1, "sampling_end": 0.0, "context_frames": 3}
    )
    _fit(config, tmp_path)
    first, second = seen  # step 0: p = 1; step 1: p = sampling_end = 0
    assert first.all()
    assert second[:, :3].all() and not second[:, 3:].any()


def test_resume_errors(run, tmp_path):
    with pytest.raises(ValueError, match="expected a committed epoch"):
        _fit(TINY, tmp_path / "empty", resume=True)
    other = TINY.replace(model={"filters": (4, 8)})
    with pytest.raises(ValueError, match=r"model.filters \[4, 4\] -> \[4, 8\]"):
        _fit(other, run[0], resume=True)
    copy = shutil.copytree(run[0], tmp_path / "copy")
    (copy / "epochs" / "2" / "model.pt").write_bytes((run[0] / "best.pt").read_bytes())
    with pytest.raises(ValueError, match="not a training checkpoint"):
        _fit(TINY, copy, resume=True)


def test_load_checkpoint_rejects_broken_and_foreign_files(run, tmp_path):
    good = (run[0] / "model.pt").read_bytes()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good[: len(good) // 2])
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    for path in (truncated, garbage):
        with pytest.raises(ValueError, match="cannot be read") as err:
            load_checkpoint(path)
        assert str(path) in str(err.value)
    with pytest.raises(ValueError, match="no such file"):
        load_checkpoint(tmp_path / "missing.pt")
    foreign = tmp_path / "foreign.pt"
    torch.save({"format": "something-else", "model": {}}, foreign)
    with pytest.raises(ValueError, match="expected format 'nfp-torch-1', got 'something-else'"):
        load_checkpoint(foreign)
    checkpoint = torch.load(run[0] / "model.pt", weights_only=True)
    checkpoint["config"]["model"]["filters"] = [4, 8]
    mismatched = tmp_path / "mismatched.pt"
    torch.save(checkpoint, mismatched)
    with pytest.raises(ValueError, match="another architecture") as err:
        load_checkpoint(mismatched)
    message = str(err.value)
    assert (
        str(mismatched) in message and "expected shape (32, 12, 3, 3), got (16, 8, 3, 3)" in message
    )
    assert (run[0] / "model.pt").read_bytes() == good


def test_save_checkpoint_checks_config_and_round_trips(tmp_path):
    model = build_model(TINY.model)
    path = save_checkpoint(tmp_path / "weights.pt", model, epoch=3)
    loaded, config, checkpoint = load_checkpoint(path)
    assert config == Config(model=TINY.model) and checkpoint["epoch"] == 3
    _same_weights(loaded.state_dict(), model.state_dict())
    with pytest.raises(ValueError, match="whose model is the model's"):
        save_checkpoint(tmp_path / "x.pt", model, TINY.replace(model={"filters": (4, 8)}))


def test_a_failed_save_leaves_the_last_good_checkpoint(tmp_path, monkeypatch):
    model = build_model(TINY.model)
    path = save_checkpoint(tmp_path / "model.pt", model, TINY, epoch=1)
    good = path.read_bytes()

    def dies_half_way(obj, file):
        with open(file, "wb") as f:
            f.write(good[:100])
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", dies_half_way)
    with torch.no_grad():
        model.head.weight.add_(1.0)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, model, TINY, epoch=2)
    assert path.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]  # no temporary file left


# A training run in a child process, slowed by sleeping in every training forward so that a
# signal reliably lands in the middle of an epoch (sleeping costs no CPU).
CHILD = """
import signal, sys, time
import torch
from nfp_lib.cli import main
from nfp_lib.torch_backend import NextFramePredictor

# Ctrl-C raises KeyboardInterrupt, as in a terminal: a child inherits an ignored SIGINT from
# its parent, and a test runner's worker may have set that.
signal.signal(signal.SIGINT, signal.default_int_handler)
torch.set_num_threads(1)
forward = NextFramePredictor.forward

def slow(self, *args, **kwargs):
    if self.training:
        time.sleep(0.05)
    return forward(self, *args, **kwargs)

NextFramePredictor.forward = slow
sys.exit(main(["train", "--config", sys.argv[1], "--out", sys.argv[2], "--device", "cpu",
               "--no-progress"]))
"""
SLOW = TINY.replace(train={"epochs": 3, "num_train": 160})  # 20 batches: about 1 s an epoch


def _interrupt_second_epoch(out, sig) -> subprocess.CompletedProcess:
    config = out.with_name("config.json")
    config.write_text(json.dumps(SLOW.to_dict()))
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(config), str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    try:
        deadline = time.monotonic() + 120
        while not (out / "history.json").exists() and child.poll() is None:  # written last
            assert time.monotonic() < deadline, "the child never finished its first epoch"
            time.sleep(0.05)
        time.sleep(0.3)
        child.send_signal(sig)
        stdout, stderr = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    return subprocess.CompletedProcess(child.args, child.returncode, stdout, stderr)


def test_sigkill_mid_epoch_keeps_the_last_checkpoint_and_resume_finishes(tmp_path):
    out = tmp_path / "killed"
    done = _interrupt_second_epoch(out, signal.SIGKILL)
    assert done.returncode == -signal.SIGKILL
    checkpoint = load_checkpoint(out / "model.pt")[2]
    assert checkpoint["epoch"] == 1
    assert json.loads((out / "history.json").read_text())["epoch"] == [1]
    resumed = _fit(SLOW, out, resume=True)
    reference = _fit(SLOW, tmp_path / "reference")
    _same_history(resumed, reference)
    _same_weights(_weights(out / "model.pt"), _weights(tmp_path / "reference" / "model.pt"))


def test_ctrl_c_mid_epoch_stops_with_one_line_and_exit_130(tmp_path):
    out = tmp_path / "interrupted"
    done = _interrupt_second_epoch(out, signal.SIGINT)
    assert done.returncode == 130, done.stderr
    assert done.stderr == f"nfp: interrupted; {out} holds epoch 1, continue it with --resume\n"
    assert load_checkpoint(out / "model.pt")[2]["epoch"] == 1


def test_init_from_starts_from_another_runs_weights(run, tmp_path):
    out, _ = run
    still = TINY.replace(train={"epochs": 1, "learning_rate": 1e-12, "init_from": str(out)})
    _fit(still, tmp_path / "tuned")
    start, tuned = _weights(out / "model.pt"), _weights(tmp_path / "tuned" / "model.pt")
    parameters = dict(build_model(TINY.model).named_parameters())
    _same_weights({k: start[k] for k in parameters}, {k: tuned[k] for k in parameters})
    _fit(TINY.replace(train={"epochs": 1, "learning_rate": 1e-12}), tmp_path / "fresh")
    fresh = _weights(tmp_path / "fresh" / "model.pt")  # without init_from: other weights
    assert not torch.equal(tuned["layers.0.cell.conv.weight"], fresh["layers.0.cell.conv.weight"])


def test_init_from_accepts_a_model_that_differs_in_mirror_average_alone(run, tmp_path):
    out, _ = run  # averaging over mirror images adds no weights
    train = {"epochs": 1, "learning_rate": 1e-12, "init_from": str(out), "mirror": True}
    _fit(TINY.replace(model={"mirror_average": True}, train=train), tmp_path / "mirror")
    start, tuned = _weights(out / "model.pt"), _weights(tmp_path / "mirror" / "model.pt")
    parameters = dict(build_model(TINY.model).named_parameters())
    _same_weights({k: start[k] for k in parameters}, {k: tuned[k] for k in parameters})


@pytest.mark.parametrize(
    ("source", "match"),
    [
        ("no-such-run", "init_from: no checkpoint at 'no-such-run'"),
        ("plain-keras", "init_from: 'plain-keras' is a keras checkpoint, this run is torch"),
        ("plain-torch", "init_from: 'plain-torch' was built with another model configuration"),
    ],
)
def test_init_from_errors(tmp_path, source, match):
    with pytest.raises(ValueError, match=match):
        _fit(TINY.replace(train={"init_from": source}), tmp_path)
