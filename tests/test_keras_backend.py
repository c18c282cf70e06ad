import dataclasses
import json
import os
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest

from nfp_lib import keras_backend as kb
from nfp_lib.config import PRESETS, Config, ModelConfig, TrainConfig
from nfp_lib.keras_backend import train as keras_train

SIZE = 16
SMALL = ModelConfig(filters=(4, 6), kernel_sizes=(3, 1), norm="batch", patch_size=2)
LEAKY = ModelConfig(filters=(4,), kernel_sizes=(3,), norm="none", head="conv3d")


def video(n=2, t=5, size=SIZE, channels=1, seed=0):
    return np.random.default_rng(seed).random((n, t, size, size, channels), dtype=np.float32)


@pytest.fixture(scope="module")
def small():
    keras.utils.set_random_seed(0)
    return kb.build_model(SMALL, image_size=SIZE)


@pytest.fixture(scope="module")
def leaky():
    keras.utils.set_random_seed(1)
    return kb.build_model(LEAKY, image_size=SIZE)


def test_importing_nfp_lib_does_not_import_keras_and_torch_is_the_default_backend():
    code = (
        "import sys, nfp_lib, nfp_lib.porting; assert 'keras' not in sys.modules; "
        "import nfp_lib.keras_backend, keras; print(keras.backend.backend())"
    )
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "torch"


def test_shapes_and_layer_names(small):
    x = video(n=3, t=4)
    assert small.predict(x, verbose=0).shape == x.shape
    assert kb.predict_next(small, x).shape == (3, 3, SIZE, SIZE, 1)
    names = [layer.name for layer in small.layers]
    assert names == [
        "frames",
        "space_to_depth",
        "convlstm_0",
        "norm_0",
        "convlstm_1",
        "head",
        "depth_to_space",
    ]
    assert small.get_layer("head").kernel.shape == (1, 3, 3, 6, 4)


@pytest.mark.parametrize(
    "config",
    [
        SMALL,
        LEAKY,
        ModelConfig(
            filters=(3,),
            kernel_sizes=(5,),
            activation="relu",
            norm="none",
            channels=3,
            patch_size=4,
        ),
        ModelConfig(filters=(2, 3, 4), kernel_sizes=(1, 3, 5), head_kernel_size=5),
        ModelConfig(filters=(2,), kernel_sizes=(3,), norm="none", patch_size=4, motion_kernel=7),
        ModelConfig((2,), (3,), norm="none", patch_size=4, motion_kernel=5, motion_masks=2),
    ],
)
def test_model_config_reads_back_the_architecture(config):
    assert kb.model_config(kb.build_model(config, image_size=SIZE)) == config


def test_model_config_of_what_the_layers_cannot_tell():
    one_layer = ModelConfig(filters=(3,), kernel_sizes=(3,), norm="batch", head_kernel_size=1)
    assert kb.model_config(kb.build_model(one_layer, SIZE)).norm == "none"  # no norm layer anyway
    leaky = ModelConfig(filters=(3,), kernel_sizes=(3,), norm="none", head="conv3d")
    model = kb.build_model(dataclasses.replace(leaky, head_kernel_size=1), SIZE)
    assert kb.model_config(model) == leaky  # a conv3d head is always 3x3x3
    assert kb.canonical(one_layer) == dataclasses.replace(one_layer, norm="none")


def test_keras_io_model_is_the_published_one():
    model = kb.build_keras_io_model(image_size=32)
    assert kb.model_config(model) == PRESETS["keras-io"].model
    assert [layer.kernel_size for layer in model.layers[1:6:2]] == [(5, 5), (3, 3), (1, 1)]
    assert model.get_layer("head").kernel_size == (3, 3, 3)
    # ConvLSTMs: 4*64*(k*k*(in + 64) + 1) for k = 5, 3, 1; two BNs: 4*64; head: 27*64 + 1
    assert model.count_params() == 416_256 + 295_168 + 33_024 + 2 * 256 + 1_729


def test_space_to_depth_uses_pixel_unshuffle_channel_order():
    x = video(n=1, t=2, size=8, channels=2)
    p = 2
    patched = keras.ops.convert_to_numpy(kb.SpaceToDepth(p)(x))
    assert patched.shape == (1, 2, 4, 4, 8)
    for c, py, px in np.ndindex(2, p, p):
        np.testing.assert_array_equal(
            patched[..., c * p * p + py * p + px], x[:, :, py::p, px::p, c]
        )
    back = keras.ops.convert_to_numpy(kb.DepthToSpace(p)(patched))
    np.testing.assert_array_equal(back, x)


def test_conv2d_head_is_causal_exactly(small):
    x = video(t=6)
    changed = x.copy()
    changed[:, 3:] = video(t=3, seed=5)
    a, b = small.predict(x, verbose=0), small.predict(changed, verbose=0)
    np.testing.assert_array_equal(a[:, :3], b[:, :3])  # predictions made before frame 3
    assert np.abs(a[:, 3:] - b[:, 3:]).max() > 1e-4


def test_conv3d_head_leaks_the_next_frame(leaky):
    x = video(t=6)
    changed = x.copy()
    changed[:, 3:] = video(t=3, seed=5)
    a, b = leaky.predict(x, verbose=0), leaky.predict(changed, verbose=0)
    np.testing.assert_array_equal(a[:, :2], b[:, :2])
    assert np.abs(a[:, 2] - b[:, 2]).max() > 1e-4  # output 2 predicts frame 3 and sees it


def test_rollout_equals_rerun_for_a_causal_model(small):
    context = video(n=3, t=4)
    fast = kb.rollout(small, context, 3, batch_size=2)
    slow = kb.rollout_rerun(small, context, 3)
    assert fast.shape == (3, 3, SIZE, SIZE, 1) and fast.dtype == np.float32
    np.testing.assert_allclose(fast, slow, atol=1e-5)
    np.testing.assert_allclose(fast[:, 0], small.predict(context, verbose=0)[:, -1], atol=1e-6)


def test_predict_and_rollout_is_the_two_calls(small):
    clip = video(n=2, t=6)
    one_step, rolled = kb.predict_and_rollout(small, clip, 4, 3)
    np.testing.assert_array_equal(one_step, kb.predict_next(small, clip))
    np.testing.assert_array_equal(rolled, kb.rollout(small, clip[:, :4], 3))
    with pytest.raises(ValueError, match="fewer than the 6 frames"):
        kb.predict_and_rollout(small, clip, 6, 1)


def test_rollout_refuses_the_leaky_head_and_rerun_serves_it(leaky):
    context = video(t=3)
    with pytest.raises(ValueError, match="rollout_rerun"):
        kb.rollout(leaky, context, 2)
    rolled = kb.rollout_rerun(leaky, context, 2)
    assert rolled.shape == (2, 2, SIZE, SIZE, 1)
    np.testing.assert_allclose(rolled[:, 0], leaky.predict(context, verbose=0)[:, -1], atol=1e-6)


@pytest.mark.parametrize(
    "bad, message",
    [
        (video(channels=2), "channel"),
        (video(size=8), "16x16"),
        (video() * 3, r"\[0, 1\]"),
        (video()[0], "5 dimensions"),
        (video().astype(np.uint8), "floating"),
    ],
)
def test_bad_input_raises(small, bad, message):
    for call in (
        lambda: kb.predict_next(small, bad),
        lambda: kb.rollout(small, bad, 2),
        lambda: kb.rollout_rerun(small, bad, 2),
    ):
        with pytest.raises(ValueError, match=message):
            call()


def test_bad_arguments_raise(small):
    with pytest.raises(ValueError, match="horizon"):
        kb.rollout(small, video(), 0)
    with pytest.raises(ValueError, match="at least 2 frames"):
        kb.predict_next(small, video(t=1))
    with pytest.raises(ValueError, match="multiple of patch_size"):
        kb.build_model(SMALL, image_size=15)
    with pytest.raises(ValueError, match="build_model"):
        kb.model_config(keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)]))


def test_save_and_load_with_safe_mode(small, tmp_path):
    path = tmp_path / "m.keras"
    small.save(path)
    model, config = kb.load_model(path)  # no config.json: read from the layers
    assert config == Config(model=SMALL)
    x = video()  # TensorFlow's two compiled graphs may round differently
    np.testing.assert_allclose(model.predict(x, verbose=0), small.predict(x, verbose=0), atol=1e-6)


@pytest.mark.parametrize(("masks", "layer"), [(0, kb.DynamicFilter), (2, kb.MaskedMotion)])
def test_a_motion_model_saves_and_loads_with_safe_mode(tmp_path, masks, layer):
    config = ModelConfig((3,), (3,), norm="none", patch_size=4, motion_kernel=5, motion_masks=masks)
    model = kb.build_model(config, image_size=SIZE)
    assert isinstance(model.get_layer("motion"), layer)
    if masks:  # the drawn frame starts black, as in PyTorch
        assert model.predict(np.zeros((1, 2, SIZE, SIZE, 1)), verbose=0).max() < 1e-3
    model.save(tmp_path / "m.keras")
    loaded, loaded_config = kb.load_model(tmp_path / "m.keras")
    assert loaded_config.model == config
    x = video()  # TensorFlow's two compiled graphs may round differently
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


# A video (N, T, H, W, C) as it is, left to right, upside down, both: each its own inverse
MIRRORS = (
    lambda v: v,
    lambda v: v[:, :, :, ::-1],
    lambda v: v[:, :, ::-1],
    lambda v: v[:, :, ::-1, ::-1],
)


def test_a_mirror_average_model_averages_when_predicting_and_saves(tmp_path):
    config = dataclasses.replace(SMALL, mirror_average=True)
    keras.utils.set_random_seed(2)
    model = kb.build_model(config, image_size=SIZE)
    single = kb.build_model(SMALL, image_size=SIZE)
    single.set_weights(model.get_weights())  # the same weights: averaging adds none
    x = video()
    images = [m(single.predict(np.ascontiguousarray(m(x)), verbose=0)) for m in MIRRORS]
    averaged = model.predict(x, verbose=0)
    np.testing.assert_allclose(averaged, sum(images) / 4, atol=1e-6)
    assert np.abs(averaged - images[0]).max() > 1e-3
    np.testing.assert_allclose(  # training runs one pass
        keras.ops.convert_to_numpy(model(x, training=True)),
        keras.ops.convert_to_numpy(single(x, training=True)),
        atol=1e-6,
    )
    model.save(tmp_path / "m.keras")
    loaded, loaded_config = kb.load_model(tmp_path / "m.keras")
    assert loaded_config.model == config
    expected = model.predict(x, verbose=0)  # the training pass moved the norms' statistics
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, atol=1e-6)


def test_convlstm_loops_are_unrolled_on_jax_only_also_after_loading(small, tmp_path):
    on_jax = keras.backend.backend() == "jax"
    for layer in (small.get_layer("convlstm_0"), small.get_layer("convlstm_1")):
        layer.unroll = not on_jax  # as a file saved on another backend has it
    small.save(tmp_path / "m.keras")
    loaded, _ = kb.load_model(tmp_path / "m.keras")
    for model in (kb.unroll_on_jax(small), loaded, kb.build_model(SMALL, image_size=SIZE)):
        assert [model.get_layer(f"convlstm_{i}").unroll for i in (0, 1)] == [on_jax, on_jax]
    x = video()
    np.testing.assert_allclose(loaded.predict(x, verbose=0), small.predict(x, verbose=0), atol=1e-6)


def test_dynamic_filter_moves_frames_and_trains_at_the_laptop_size():
    # The laptop preset's shapes: 8 sequences of 19 frames, 16x16 patches, 11x11 kernels. As a
    # grouped convolution (a group per patch) its gradient asked XLA for 1.47 TB.
    frames = keras.Input((19, 64, 64, 1))
    logits = keras.Input((19, 16, 16, 121))
    model = keras.Model([frames, logits], kb.DynamicFilter(4)([frames, logits]))
    model.compile(optimizer="adam", loss="mse")
    x = video(n=8, t=19, size=64)
    shift = np.zeros((8, 19, 16, 16, 121), np.float32)
    shift[..., 5 * 11 + 4] = 50.0  # (dy, dx) = (0, -1): every pixel takes its left neighbour
    moved = model.predict([x, shift], verbose=0)
    np.testing.assert_allclose(moved[:, :, :, 1:], x[:, :, :, :-1], atol=1e-6)
    np.testing.assert_allclose(moved[:, :, :, 0], 0, atol=1e-6)  # zeros outside the frame
    loss = model.train_on_batch([x, shift], x)
    assert np.isfinite(loss)


def test_set_precision_computes_the_convlstms_in_bf16_with_float32_weights():
    keras.utils.set_random_seed(0)
    model = kb.build_model(SMALL, image_size=SIZE)
    x = video()

    def run():  # called directly: predict's compiled function would keep the first policy
        return keras.ops.convert_to_numpy(model(x, training=False))

    exact = run()
    kb.set_precision(model, "mixed_bfloat16")
    layer = model.get_layer("convlstm_0")
    assert (layer.compute_dtype, layer.cell.compute_dtype) == ("bfloat16", "bfloat16")
    assert all(w.dtype == "float32" for w in model.weights)
    assert 0 < np.abs(run() - exact).max() < 0.05
    kb.set_precision(model, "float32")
    np.testing.assert_allclose(run(), exact, atol=1e-6)


def tiny_config(**train) -> Config:
    settings = dict(epochs=2, batch_size=4, num_train=8, num_val=4, num_frames=5, image_size=32)
    return Config(
        ModelConfig(filters=(4,), kernel_sizes=(3,), norm="none", patch_size=4),
        TrainConfig(**{**settings, **train}),
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("keras_run")
    return out, kb.fit(tiny_config(), out, progress=False)


def test_fit_writes_history_config_and_a_safe_model(trained):
    out, history = trained
    assert tuple(history) == kb.HISTORY_KEYS
    assert history["epoch"] == [1, 2]
    assert history["loss"][1] < history["loss"][0]
    assert all(0 < v < 1 for v in history["val_mse"] + history["val_ssim"])
    assert json.loads((out / "history.json").read_text()) == history
    assert Config.from_dict(json.loads((out / "config.json").read_text())) == tiny_config()
    model, config = kb.load_model(out / "model.keras")
    assert config == tiny_config()
    assert int(model.optimizer.iterations) == 2 * 2  # restored optimizer: 2 epochs x 2 batches
    clip = video(n=2, t=3, size=32)
    assert kb.rollout(model, clip, 2).shape == (2, 2, 32, 32, 1)


def test_mixed_precision_trains_in_bf16_where_native_and_saves_float32(trained, tmp_path):
    out, mixed = trained  # mixed_precision is on by default
    exact = kb.fit(tiny_config(mixed_precision=False), tmp_path, progress=False)
    if kb.bf16_native():
        assert mixed["loss"] != exact["loss"]
        np.testing.assert_allclose(mixed["loss"], exact["loss"], rtol=0.05)
    else:
        assert mixed["loss"] == exact["loss"]
    model, _ = kb.load_model(out / "model.keras")
    assert model.get_layer("convlstm_0").dtype_policy.name == "float32"


def test_a_mirror_average_model_trains_one_pass_and_validates_averaged(tmp_path, reference_losses):
    clips = video(n=4, t=5, size=32, seed=4)
    config = tiny_config(epochs=1, sampling_steps=2, context_frames=2, mirror=True)
    config = config.replace(model={"mirror_average": True})
    history = kb.fit(config, tmp_path, train_data=clips, val_data=clips[:2], progress=False)
    model, loaded = kb.load_model(tmp_path / "model.keras")
    assert loaded.model.mirror_average and np.isfinite(history["loss"][0])
    y = clips[:2, 1:].astype(np.float64)
    p = np.clip(kb.predict_next(model, clips[:2]).astype(np.float64), 1e-7, 1 - 1e-7)
    assert history["val_loss"] == pytest.approx([reference_losses["bce"](y, p)], rel=1e-4)


@pytest.mark.parametrize("loss", ["bce", "mse", "l1", "ssim", "ssim_bce"])
def test_validation_loss_is_the_configured_loss(tmp_path, loss, reference_losses):
    clips = video(n=4, t=5, size=32, seed=3)
    config = tiny_config(epochs=1, loss=loss)
    history = kb.fit(config, tmp_path, train_data=clips, val_data=clips[:2], progress=False)
    model, _ = kb.load_model(tmp_path / "model.keras")
    y = clips[:2, 1:].astype(np.float64)
    p = np.clip(kb.predict_next(model, clips[:2]).astype(np.float64), 1e-7, 1 - 1e-7)
    assert history["val_loss"] == pytest.approx([reference_losses[loss](y, p)], rel=1e-4)


def _stop_after_epoch_2_and_resume(monkeypatch, config: Config, out, data: dict) -> dict:
    """Train ``config`` into ``out``, interrupted once epoch 2 is saved, then resume it."""
    save = keras_train.EpochCommit.on_epoch_end

    def stop_after_epoch_2(self, epoch, logs=None):
        save(self, epoch, logs)
        if epoch == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(keras_train.EpochCommit, "on_epoch_end", stop_after_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        kb.fit(config, out, **data)
    monkeypatch.undo()
    return kb.fit(config, out, resume=True, **data)


def test_finish_loss_trains_the_last_epochs_and_resumes_across_the_switch(
    tmp_path, monkeypatch, reference_losses
):
    clips = video(n=4, t=5, size=32, seed=3)
    data = {"train_data": clips, "val_data": clips[:2], "progress": False}
    # L1, then BCE, whose values are larger: only a fresh record keeps epoch 3 off a plateau
    config = tiny_config(epochs=4, loss="l1", finish_loss="bce", finish_from=3, lr_patience=0)
    straight = kb.fit(config, tmp_path / "straight", **data)
    model, _ = kb.load_model(tmp_path / "straight" / "model.keras")
    assert model.loss == "binary_crossentropy"
    y = clips[:2, 1:].astype(np.float64)
    p = np.clip(kb.predict_next(model, clips[:2]).astype(np.float64), 1e-7, 1 - 1e-7)
    assert straight["val_loss"][3] == pytest.approx(reference_losses["bce"](y, p), rel=1e-4)
    assert min(straight["val_loss"][:2]) < straight["val_loss"][2]
    assert straight["learning_rate"][3] == straight["learning_rate"][2]

    resumed = _stop_after_epoch_2_and_resume(monkeypatch, config, tmp_path / "resumed", data)
    assert resumed["epoch"] == straight["epoch"]
    for key in ("loss", "val_loss", "val_ssim", "learning_rate"):
        np.testing.assert_allclose(resumed[key], straight[key], rtol=1e-5, err_msg=key)
    again, _ = kb.load_model(tmp_path / "resumed" / "model.keras")
    for a, b in zip(model.get_weights(), again.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


def test_weight_average_copies_then_follows_the_keras_rule_and_swaps_back():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, use_bias=False)])
    average = keras_train.WeightAverage(model, decay=0.9)
    average.set_model(model)
    for value in (1.0, 2.0, 4.0):  # the weights after three optimiser steps
        model.set_weights([np.full((2, 1), value, np.float32)])
        average.on_train_batch_end(0)
    expected = 0.9 * (0.9 * 1.0 + 0.1 * 2.0) + 0.1 * 4.0  # the first update copies
    # detached: an average that kept each step's gradient history would grow without end
    assert not any(getattr(a, "requires_grad", False) for a in average.average)
    average.on_epoch_end(0)  # swaps the average in
    np.testing.assert_allclose(model.get_weights()[0], expected, rtol=1e-6)
    average.swap_back.on_epoch_end(0)
    np.testing.assert_allclose(model.get_weights()[0], 4.0)


def test_ema_validates_and_saves_the_average_and_resumes_exactly(
    tmp_path, monkeypatch, reference_losses
):
    clips = video(n=8, t=5, size=32, seed=3)
    data = {"train_data": clips, "val_data": clips[:2], "progress": False}
    config = tiny_config(epochs=3, ema_decay=0.5, learning_rate=1e-2)
    straight = kb.fit(config, tmp_path / "straight", **data)
    model, _ = kb.load_model(tmp_path / "straight" / "model.keras")
    y = clips[:2, 1:].astype(np.float64)
    p = np.clip(kb.predict_next(model, clips[:2]).astype(np.float64), 1e-7, 1 - 1e-7)
    assert straight["val_loss"][2] == pytest.approx(reference_losses["bce"](y, p), rel=1e-4)
    with np.load(tmp_path / "straight" / keras_train.TRAIN_WEIGHTS_FILE) as saved:
        assert int(saved["updates"]) == 3 * 2
        assert not np.allclose(saved["w0"], model.trainable_variables[0].numpy())

    resumed = _stop_after_epoch_2_and_resume(monkeypatch, config, tmp_path / "resumed", data)
    for key in ("loss", "val_loss", "val_ssim"):
        np.testing.assert_allclose(resumed[key], straight[key], rtol=1e-5, err_msg=key)
    again, _ = kb.load_model(tmp_path / "resumed" / "model.keras")
    for a, b in zip(model.get_weights(), again.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


def test_resume_continues_exactly_like_an_uninterrupted_run(trained, tmp_path):
    out, history = trained
    straight = kb.fit(tiny_config(epochs=3), tmp_path / "straight", progress=False)
    resumed = shutil.copytree(out, tmp_path / "resumed")
    again = kb.fit(tiny_config(epochs=3), resumed, resume=True, progress=False)
    assert again["epoch"] == [1, 2, 3]
    assert again["loss"][:2] == history["loss"]
    assert again["loss"] == straight["loss"] and again["val_loss"] == straight["val_loss"]


def test_resume_restores_early_stopping_and_lr_plateau(tmp_path):
    config = tiny_config(early_stopping_patience=2, lr_patience=2, lr_factor=0.5)
    history = kb.fit(config, tmp_path, progress=False)
    faked = {**history, "val_loss": [0.01, 0.5]}  # one epoch without improvement so far
    (tmp_path / "epochs" / "2" / "history.json").write_text(json.dumps(faked))
    longer = config.replace(train={"epochs": 6})
    again = kb.fit(longer, tmp_path, resume=True, progress=False)
    assert again["epoch"] == [1, 2, 3]  # the second epoch without improvement stops it
    model, _ = kb.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(float(model.optimizer.learning_rate), 5e-4)  # and halved the lr
    assert kb.fit(longer, tmp_path, resume=True, progress=False)["epoch"] == [1, 2, 3]


def test_cosine_schedule_falls_to_zero_over_the_run_and_fixes_its_length(tmp_path):
    config = tiny_config(lr_schedule="cosine")  # 2 epochs of 2 batches
    history = kb.fit(config, tmp_path, progress=False)
    rate = config.train.learning_rate
    assert history["learning_rate"] == pytest.approx([rate, rate / 2])  # at each epoch's start
    model, _ = kb.load_model(tmp_path / "model.keras")
    assert float(model.optimizer.learning_rate) == pytest.approx(0, abs=1e-12)
    with pytest.raises(ValueError, match="cosine"):
        kb.fit(tiny_config(lr_schedule="cosine", epochs=3), tmp_path, resume=True, progress=False)


def test_sampled_model_feeds_back_predictions_or_truth():
    keras.utils.set_random_seed(0)
    model = kb.build_model(tiny_config().model, image_size=32)
    sampled = keras_train.SampledModel(model)
    x = video(n=2, t=5, size=32, seed=1)
    never, always = np.zeros((2, 5), np.float32), np.ones((2, 5), np.float32)
    free = keras.ops.convert_to_numpy(sampled((x, never)))
    other = x.copy()
    other[:, 1:] = video(n=2, t=4, size=32, seed=2)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(sampled((other, never))), free)
    teacher = keras.ops.convert_to_numpy(sampled((x, always)))
    np.testing.assert_allclose(teacher, model.predict(x, verbose=0), atol=1e-6)
    np.testing.assert_allclose(free, kb.rollout(model, x[:, :1], 5), atol=1e-6)
    mixed = never.copy()
    mixed[1, 2] = 1  # sequence 1 gets the true frame 2 at step 2
    out = keras.ops.convert_to_numpy(sampled((x, mixed)))
    np.testing.assert_array_equal(out[0], free[0])
    np.testing.assert_array_equal(out[1, :2], free[1, :2])
    assert not np.array_equal(out[1, 2], free[1, 2])
    assert [v.path for v in sampled.trainable_variables] == [
        v.path for v in model.trainable_variables
    ]  # one optimizer serves both, and model.keras saves its state in this order


def test_training_through_the_mirror_average_predicts_as_the_averaging_model():
    keras.utils.set_random_seed(0)
    model = kb.build_model(dataclasses.replace(tiny_config().model, mirror_average=True), 32)
    x = video(n=2, t=5, size=32, seed=1)
    feed_truth = np.zeros((2, 5), np.float32)
    feed_truth[:, :2] = 1

    def run(trainer, inputs, training):
        return keras.ops.convert_to_numpy(trainer(inputs, training=training))

    free = run(keras_train.SampledModel(model, average=True), (x, feed_truth), True)
    predicted = run(keras_train.SampledModel(model), (x, feed_truth), False)  # averages itself
    np.testing.assert_allclose(free, predicted, atol=1e-6)
    one_pass = run(keras_train.SampledModel(model), (x, feed_truth), True)
    assert np.abs(free - one_pass).max() > 1e-3
    taught = run(keras_train.MirrorAveraged(model), x, True)
    np.testing.assert_allclose(taught, model.predict(x, verbose=0), atol=1e-6)


@pytest.mark.parametrize("sampling_steps", [0, 2])
def test_fit_trains_through_the_mirror_average_when_asked(tmp_path, monkeypatch, sampling_steps):
    calls = []
    original = keras_train.mirror_images

    def spy(x):
        calls.append(x.shape[0])
        return original(x)

    monkeypatch.setattr(keras_train, "mirror_images", spy)
    config = tiny_config(epochs=1, sampling_steps=sampling_steps, context_frames=2)
    config = config.replace(model={"mirror_average": True}, train={"average_mirrors": True})
    history = kb.fit(config, tmp_path, progress=False)
    assert calls and set(calls) == {4} and np.isfinite(history["loss"][0])
    calls.clear()
    kb.fit(config.replace(train={"average_mirrors": False}), tmp_path / "one-pass", progress=False)
    assert not calls


def test_scheduled_sampling_shows_the_context_and_ends_free_running(tmp_path, monkeypatch):
    seen = {}
    get = keras_train._EpochData.__getitem__

    def spy(self, index):
        (x, feed_truth), y = get(self, index)
        seen[index] = feed_truth
        return (x, feed_truth), y

    monkeypatch.setattr(keras_train._EpochData, "__getitem__", spy)
    config = tiny_config(epochs=1, sampling_steps=1, sampling_end=0.0, context_frames=3)
    history = kb.fit(config, tmp_path, progress=False)
    first, second = seen[0], seen[1]  # step 0: p = 1; step 1: p = sampling_end = 0
    assert first.all()
    assert second[:, :3].all() and not second[:, 3:].any()
    assert history["epoch"] == [1]
    model, _ = kb.load_model(tmp_path / "model.keras")
    assert model.name == "next_frame_predictor"  # the predictor is saved, not the wrapper


def test_scheduled_sampling_resumes_exactly(tmp_path, monkeypatch):
    clips = video(n=8, t=5, size=32, seed=3)
    data = {"train_data": clips, "val_data": clips[:2], "progress": False}
    config = tiny_config(
        epochs=3, sampling_steps=4, context_frames=2, ema_decay=0.5, learning_rate=1e-2
    )
    straight = kb.fit(config, tmp_path / "straight", **data)
    resumed = _stop_after_epoch_2_and_resume(monkeypatch, config, tmp_path / "resumed", data)
    for key in ("loss", "val_loss", "val_ssim"):
        np.testing.assert_allclose(resumed[key], straight[key], rtol=1e-5, err_msg=key)
    assert straight["val_loss"][0] != straight["val_loss"][2]


def test_fit_errors(tmp_path):
    conv3d = tiny_config(sampling_steps=10, context_frames=3)
    conv3d = conv3d.replace(model={"head": "conv3d"})
    with pytest.raises(ValueError, match="causal"):
        kb.fit(conv3d, tmp_path, progress=False)
    with pytest.raises(ValueError, match="expected a committed epoch"):
        kb.fit(tiny_config(), tmp_path / "empty", resume=True, progress=False)
    with pytest.raises(ValueError, match="train_data"):
        kb.fit(tiny_config(), tmp_path, train_data=video(size=16), progress=False)


def test_resume_with_another_architecture_raises(trained, tmp_path):
    copy = shutil.copytree(trained[0], tmp_path / "copy")
    other = tiny_config().replace(model={"filters": (5,)})
    with pytest.raises(ValueError, match=r"resume: .*model.filters \[4\] -> \[5\]"):
        kb.fit(other, copy, resume=True, progress=False)


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_damaged_model_file_raises_naming_it(trained, tmp_path, damage):
    out, _ = trained
    data = (out / "model.keras").read_bytes()
    path = tmp_path / "model.keras"
    path.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"not a zip" * 10)
    with pytest.raises(ValueError, match="model.keras"):
        kb.load_model(path)
    with pytest.raises(ValueError, match="no such file"):
        kb.load_model(tmp_path / "missing.keras")


def test_init_from_starts_from_another_runs_weights(trained, tmp_path):
    out, _ = trained
    start = kb.load_model(out / "model.keras")[0].get_weights()
    still = tiny_config(epochs=1, learning_rate=1e-12, init_from=str(out))
    kb.fit(still, tmp_path / "tuned", progress=False)
    tuned = kb.load_model(tmp_path / "tuned" / "model.keras")[0].get_weights()
    for a, b in zip(start, tuned, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)
    with pytest.raises(ValueError, match="'plain-torch' is a torch checkpoint, this run is keras"):
        kb.fit(tiny_config(init_from="plain-torch"), tmp_path / "other", progress=False)
