"""The Keras and the PyTorch model of one ModelConfig are one network: with ported weights they
give the same predictions and the same rollouts."""

from dataclasses import replace

import keras
import numpy as np
import pytest
import torch

from nfp_lib import keras_backend as kb
from nfp_lib import torch_backend as tb
from nfp_lib.backends import backend_of, with_mirror_average
from nfp_lib.config import ModelConfig
from nfp_lib.keras_backend.train import SampledModel
from nfp_lib.porting import keras_to_torch, torch_to_keras
from nfp_lib.torch_backend.train import sampled_forward

SIZE = 16
ATOL = 1e-5

# Every combination of kernel size, activation, norm, patching and head (two ConvLSTM layers, so
# a norm sits between them), then the odd ones: 4x4 patches, three channels, other head kernels,
# and the motion head (dynamic filters) with each head and patch size.
GRID = [
    ModelConfig(
        filters=(4, 3), kernel_sizes=(k, k), activation=act, norm=norm, patch_size=p, head=head
    )
    for k in (1, 3, 5)
    for act in ("tanh", "relu")
    for norm in ("none", "batch")
    for p in (1, 2)
    for head in ("conv2d", "conv3d")
]
CONFIGS = [
    *GRID,
    ModelConfig(filters=(6,), kernel_sizes=(3,), activation="relu", norm="none", patch_size=4),
    ModelConfig(filters=(4,), kernel_sizes=(3,), patch_size=2, head_kernel_size=5, channels=3),
    ModelConfig(
        filters=(4, 4), kernel_sizes=(5, 1), norm="batch", patch_size=4, head_kernel_size=1
    ),
    ModelConfig(filters=(4, 3), kernel_sizes=(3, 3), norm="batch", patch_size=4, motion_kernel=5),
    ModelConfig(filters=(4,), kernel_sizes=(3,), patch_size=2, channels=3, motion_kernel=3),
    ModelConfig(filters=(4,), kernel_sizes=(3,), norm="none", head="conv3d", motion_kernel=3),
    ModelConfig(
        filters=(4, 3),
        kernel_sizes=(3, 3),
        norm="none",
        patch_size=4,
        motion_kernel=5,
        motion_masks=2,
    ),
    ModelConfig(
        filters=(4,), kernel_sizes=(3,), patch_size=2, channels=3, motion_kernel=3, motion_masks=1
    ),
]
MOTION, MASKED = CONFIGS[-5], CONFIGS[-2:]
# mirror_average: the four mirror images through the same layers, their predictions averaged
MIRRORED = [
    replace(MASKED[0], mirror_average=True),
    replace(CONFIGS[-6], mirror_average=True),  # pixel head, batch norm, 4x4 patches
    ModelConfig(filters=(4,), kernel_sizes=(3,), head="conv3d", mirror_average=True),
]
CAUSAL_BN_PATCHED = replace(GRID[0], norm="batch", patch_size=2, kernel_sizes=(5, 3))
LEAKY_BN = replace(GRID[0], norm="batch", head="conv3d")


def ids(config: ModelConfig) -> str:
    k = "".join(map(str, config.kernel_sizes))
    return (
        f"k{k}-{config.activation}-{config.norm}-p{config.patch_size}-{config.head}"
        f"{config.head_kernel_size}-c{config.channels}-m{config.motion_kernel}x{config.motion_masks}"
        + ("-mirror" if config.mirror_average else "")
    )


def clip(config: ModelConfig, t: int = 5, seed: int = 0) -> np.ndarray:
    shape = (2, t, SIZE, SIZE, config.channels)
    return np.random.default_rng(seed).random(shape, dtype=np.float32)


def randomize_keras(model: keras.Model, seed: int) -> None:
    """Random weights everywhere (biases and BN statistics too), variances positive."""
    rng = np.random.default_rng(seed)
    for var in model.weights:
        value = rng.normal(0, 0.3, var.shape)
        if "variance" in var.path:
            value = rng.uniform(0.5, 2.0, var.shape)
        var.assign(value.astype(np.float32))


def randomize_torch(model: torch.nn.Module, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if "num_batches" in name:
                continue
            value = torch.randn(tensor.shape, generator=gen) * 0.3
            if "running_var" in name:
                value = torch.rand(tensor.shape, generator=gen) * 1.5 + 0.5
            tensor.copy_(value)


@pytest.mark.parametrize("config", [*CONFIGS, *MIRRORED], ids=ids)
def test_keras_to_torch_gives_the_same_predictions(config):
    keras_model = kb.build_model(config, image_size=SIZE)
    randomize_keras(keras_model, seed=1)
    torch_model = keras_to_torch(keras_model, tb.build_model(config)).eval()
    x = clip(config)
    expected = keras_model.predict(x, verbose=0)
    np.testing.assert_allclose(tb.to_numpy(torch_model(tb.to_tensor(x))), expected, atol=ATOL)


@pytest.mark.parametrize("config", [*CONFIGS, *MIRRORED], ids=ids)
def test_torch_to_keras_gives_the_same_predictions(config):
    torch_model = tb.build_model(config)
    randomize_torch(torch_model, seed=2)
    keras_model = torch_to_keras(torch_model.eval(), kb.build_model(config, image_size=SIZE))
    x = clip(config, seed=3)
    expected = tb.predict_next(torch_model, x)
    np.testing.assert_allclose(kb.predict_next(keras_model, x), expected, atol=ATOL)


def test_round_trip_keeps_every_weight():
    config = CAUSAL_BN_PATCHED
    keras_model = kb.build_model(config, image_size=SIZE)
    randomize_keras(keras_model, seed=4)
    torch_model = keras_to_torch(keras_model, tb.build_model(config))
    back = torch_to_keras(torch_model, kb.build_model(config, image_size=SIZE))
    for a, b in zip(keras_model.get_weights(), back.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "config",
    [CAUSAL_BN_PATCHED, CONFIGS[-7], CONFIGS[-6], MOTION, CONFIGS[-4], *MASKED, *MIRRORED[:2]],
    ids=ids,
)
def test_rollouts_agree(config):
    torch_model = tb.build_model(config)
    randomize_torch(torch_model, seed=5)
    keras_model = torch_to_keras(torch_model.eval(), kb.build_model(config, image_size=SIZE))
    context = clip(config, t=4, seed=6)
    expected = tb.rollout(torch_model, context, 3)
    np.testing.assert_allclose(kb.rollout(keras_model, context, 3), expected, atol=ATOL)
    np.testing.assert_allclose(kb.rollout_rerun(keras_model, context, 3), expected, atol=ATOL)


def test_training_through_the_mirror_average_agrees():
    config = replace(MIRRORED[0], norm="none")
    torch_model = tb.build_model(config)
    randomize_torch(torch_model, seed=11)
    keras_model = torch_to_keras(torch_model.eval(), kb.build_model(config, image_size=SIZE))
    x = clip(config, t=5, seed=12)
    feed_truth = np.zeros((2, 5), np.float32)
    feed_truth[:, :2] = 1
    torch_model.train()  # one pass a step, as in training; the four images made explicitly
    with torch.no_grad():
        truth = torch.tensor(feed_truth) > 0
        expected = tb.to_numpy(sampled_forward(torch_model, tb.to_tensor(x), truth, True))
    sampled = SampledModel(keras_model, average=True)((x, feed_truth), training=True)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(sampled), expected, atol=ATOL)


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_with_mirror_average_copies_the_model_either_way(backend):
    config = MIRRORED[0]
    if backend == "torch":
        model = tb.build_model(config)
        randomize_torch(model, seed=9)
        model.eval()
    else:
        model = kb.build_model(config, image_size=SIZE)
        randomize_keras(model, seed=9)
    x = clip(config, t=3, seed=10)
    single = with_mirror_average(model, False)
    back = with_mirror_average(single, True)
    for m, on in ((model, True), (single, False), (back, True)):
        assert backend_of(m).model_config(m).mirror_average is on

    def predict_next(m):
        return backend_of(m).predict_next(m, x)

    averaged = predict_next(model)
    np.testing.assert_allclose(predict_next(back), averaged, atol=1e-6)  # the same weights
    assert np.abs(predict_next(single) - averaged).max() > 1e-3


def test_leaky_rerun_rollouts_agree():
    config = LEAKY_BN
    torch_model = tb.build_model(config)
    randomize_torch(torch_model, seed=7)
    keras_model = torch_to_keras(torch_model.eval(), kb.build_model(config, image_size=SIZE))
    context = clip(config, t=3, seed=8)
    expected = tb.rollout_rerun(torch_model, context, 2)
    np.testing.assert_allclose(kb.rollout_rerun(keras_model, context, 2), expected, atol=ATOL)


@pytest.mark.parametrize(
    "keras_config, torch_config, message",
    [
        (LEAKY_BN, replace(LEAKY_BN, filters=(4, 5)), "convlstm_1"),
        (LEAKY_BN, replace(LEAKY_BN, kernel_sizes=(1, 3)), "expected shape"),
        (LEAKY_BN, replace(LEAKY_BN, activation="relu"), "relu"),
        (LEAKY_BN, replace(LEAKY_BN, filters=(4,), kernel_sizes=(1,)), "ConvLSTM layers"),
        (LEAKY_BN, replace(LEAKY_BN, norm="none"), "norm"),
        (LEAKY_BN, replace(LEAKY_BN, head="conv2d"), "head"),
        (LEAKY_BN, replace(LEAKY_BN, patch_size=2), "patch_size"),
        (MOTION, replace(MOTION, motion_kernel=0), "motion_kernel"),
        (MASKED[0], replace(MASKED[0], motion_masks=1), "motion_masks"),
    ],
)
def test_mismatched_architectures_raise(keras_config, torch_config, message):
    keras_model = kb.build_model(keras_config, image_size=SIZE)
    torch_model = tb.build_model(torch_config)
    before = [w.copy() for w in keras_model.get_weights()]
    with pytest.raises(ValueError, match=message):
        keras_to_torch(keras_model, torch_model)
    with pytest.raises(ValueError, match=message):
        torch_to_keras(torch_model, keras_model)
    for a, b in zip(before, keras_model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)  # nothing half-copied
