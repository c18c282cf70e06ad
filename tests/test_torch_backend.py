"""The PyTorch ConvLSTM cell, layer and predictor: maths, shapes, causality and rollouts."""

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nfp_lib.config import ModelConfig
from nfp_lib.torch_backend import (
    ConvLSTM,
    ConvLSTMCell,
    NextFramePredictor,
    apply_dynamic_filters,
    build_model,
    model_config,
    predict_and_rollout,
    predict_next,
    rollout,
    rollout_rerun,
    to_numpy,
    to_tensor,
)

CAUSAL = {
    "plain": ModelConfig(filters=(4,), kernel_sizes=(3,), norm="none"),
    "batchnorm-patch2": ModelConfig(
        filters=(4, 6), kernel_sizes=(3, 1), norm="batch", patch_size=2
    ),
    "relu-patch4-rgb": ModelConfig(
        filters=(8,), kernel_sizes=(5,), activation="relu", patch_size=4, channels=3
    ),
    "motion-patch4": ModelConfig(
        filters=(4, 4), kernel_sizes=(3, 3), norm="none", patch_size=4, motion_kernel=5
    ),
    "masked-patch4": ModelConfig(
        filters=(4,), kernel_sizes=(3,), norm="none", patch_size=4, motion_kernel=3, motion_masks=2
    ),
    "mirrored-batchnorm-patch2": ModelConfig(
        filters=(4, 6), kernel_sizes=(3, 1), norm="batch", patch_size=2, mirror_average=True
    ),
}
LEAKY = ModelConfig(filters=(4, 4), kernel_sizes=(3, 3), activation="relu", head="conv3d")


def _model(config: ModelConfig, seed: int = 0) -> NextFramePredictor:
    torch.manual_seed(seed)
    model = build_model(config).eval()
    for norm in model.norms:  # non-trivial running statistics, so eval-mode norms matter
        if isinstance(norm, torch.nn.BatchNorm3d):
            norm.running_mean.uniform_(-0.5, 0.5)
            norm.running_var.uniform_(0.5, 2.0)
    return model


def _frames(config: ModelConfig, n: int = 2, t: int = 6, size: int = 16, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, t, config.channels, size, size, generator=gen)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_cell_matches_the_equations_with_separate_input_and_recurrent_kernels(activation):
    torch.manual_seed(0)
    cell = ConvLSTMCell(3, 5, 3, activation)
    x, h, c = torch.randn(2, 3, 7, 6), torch.randn(2, 5, 7, 6), torch.randn(2, 5, 7, 6)
    with torch.no_grad():
        cell.conv.bias.normal_()
        h_new, (h_state, c_new) = cell(x, (h, c))
    # Keras' form: an input kernel on x plus a recurrent kernel on h, gates in order i, f, c, o.
    w, b = cell.conv.weight, cell.conv.bias
    z = F.conv2d(x, w[:, :3], b, padding=1) + F.conv2d(h, w[:, 3:], padding=1)
    act = torch.tanh if activation == "tanh" else torch.relu
    i, f, g, o = (z[:, k * 5 : (k + 1) * 5] for k in range(4))
    c_ref = torch.sigmoid(f) * c + torch.sigmoid(i) * act(g)
    h_ref = torch.sigmoid(o) * act(c_ref)
    torch.testing.assert_close(c_new, c_ref, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(h_new, h_ref, rtol=1e-5, atol=1e-6)
    assert h_state is h_new


def test_cell_bias_starts_with_forget_gate_one_and_state_at_zero():
    cell = ConvLSTMCell(2, 4, 3)
    assert cell.conv.weight.shape == (16, 6, 3, 3)
    expected = torch.tensor([0.0] * 4 + [1.0] * 4 + [0.0] * 8)
    assert torch.equal(cell.conv.bias.detach(), expected)
    x = torch.rand(1, 2, 5, 5)
    zeros = torch.zeros(1, 4, 5, 5)
    with torch.no_grad():
        assert torch.equal(cell(x)[0], cell(x, (zeros, zeros))[0])


def test_cell_rejects_bad_arguments():
    with pytest.raises(ValueError, match="activation"):
        ConvLSTMCell(1, 4, 3, "gelu")
    with pytest.raises(ValueError, match="odd"):
        ConvLSTMCell(1, 4, 2)


def test_convlstm_layer_runs_the_cell_over_time():
    torch.manual_seed(0)
    layer = ConvLSTM(2, 4, 3)
    x = torch.rand(3, 5, 2, 8, 8)
    with torch.no_grad():
        out, (h, c) = layer(x)
        state = None
        for t in range(5):
            h_t, state = layer.cell(x[:, t], state)
            assert torch.equal(out[:, t], h_t)
    assert out.shape == (3, 5, 4, 8, 8) and c.shape == (3, 4, 8, 8)
    assert torch.equal(h, out[:, -1])


@pytest.mark.parametrize("config", [*CAUSAL.values(), LEAKY], ids=[*CAUSAL, "conv3d"])
def test_predictor_shapes_and_layers(config):
    model = _model(config)
    p, filters = config.patch_size, config.filters
    assert len(model.layers) == len(filters) and len(model.norms) == len(filters) - 1
    assert model.layers[0].cell.in_channels == config.channels * p * p
    norm_type = torch.nn.BatchNorm3d if config.norm == "batch" else torch.nn.Identity
    assert all(isinstance(norm, norm_type) for norm in model.norms)
    head_type = torch.nn.Conv2d if config.head == "conv2d" else torch.nn.Conv3d
    kernels, pixels = config.motion_kernel**2, config.channels * p * p
    if config.motion_masks:  # M kernels, the drawn frame's pixels and M + 1 masks per patch
        m = config.motion_masks
        out_channels = m * kernels + pixels + (m + 1) * p * p
    else:
        out_channels = kernels or pixels
    assert isinstance(model.head, head_type) and model.head.out_channels == out_channels
    x = _frames(config)
    with torch.no_grad():
        y, state = model(x, return_state=True)
    assert y.shape == x.shape
    assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0
    assert len(state) == len(filters)
    n = 4 * 2 if config.mirror_average else 2  # a state per mirror image
    for (h, c), f in zip(state, filters, strict=True):
        assert h.shape == c.shape == (n, f, 16 // p, 16 // p)
    assert model_config(model) is config


def test_batch_norm_uses_keras_defaults():
    norm = _model(CAUSAL["batchnorm-patch2"]).norms[0]
    assert (norm.eps, norm.momentum) == (1e-3, 0.01)  # Keras: epsilon 1e-3, momentum 0.99


def test_patching_channel_order_is_c_p_p():
    """pixel_unshuffle's order, which the Keras SpaceToDepth layer reproduces."""
    p, x = 2, torch.arange(2 * 4 * 6, dtype=torch.float32).reshape(1, 2, 4, 6)
    patches = F.pixel_unshuffle(x, p)
    for c in range(2):
        for py in range(p):
            for px in range(p):
                assert torch.equal(patches[0, c * p * p + py * p + px], x[0, c, py::p, px::p])
    assert torch.equal(F.pixel_shuffle(patches, p), x)


@pytest.mark.parametrize(
    "shape, message",
    [
        ((1, 3, 1, 18, 16), "multiples of patch_size 4"),
        ((1, 3, 1, 16, 14), "multiples of patch_size 4"),
        ((1, 3, 3, 16, 16), "C=1"),
        ((3, 1, 16, 16), "N, T >= 1"),
        ((1, 0, 1, 16, 16), "N, T >= 1"),
    ],
)
def test_predictor_rejects_bad_input(shape, message):
    model = _model(ModelConfig(filters=(4,), kernel_sizes=(3,), patch_size=4))
    with pytest.raises(ValueError, match=message):
        model(torch.zeros(shape))


@pytest.mark.parametrize("p, k, c", [(4, 11, 1), (2, 3, 3), (1, 5, 2)])
def test_dynamic_filters_equal_a_per_pixel_kernel_over_shifted_copies(p, k, c):
    gen = torch.Generator().manual_seed(p * k * c)
    frames = torch.rand(3, c, 16, 16, generator=gen)
    kernels = torch.softmax(torch.randn(3, k * k, 16 // p, 16 // p, generator=gen), dim=1)
    per_pixel = kernels.repeat_interleave(p, 2).repeat_interleave(p, 3)  # (M, K*K, H, W)
    shifted = F.unfold(frames, k, padding=k // 2).view(3, c, k * k, 16, 16)  # zero padded
    expected = (per_pixel.unsqueeze(1) * shifted).sum(2)
    torch.testing.assert_close(apply_dynamic_filters(frames, kernels, p), expected)


def test_a_one_hot_kernel_moves_the_frame():
    frames = torch.zeros(1, 1, 16, 16)
    frames[0, 0, 5, 7] = 1.0
    kernels = torch.zeros(1, 25, 4, 4)
    kernels[:, 2 * 5 + 0] = 1.0  # (dy, dx) = (2, 0): each pixel reads the one two to its left
    moved = apply_dynamic_filters(frames, kernels, 4)
    assert moved[0, 0, 5, 9] == 1.0 and moved.sum() == 1.0  # the dot moved two to the right


def test_dynamic_filters_reject_kernels_of_the_wrong_shape():
    with pytest.raises(ValueError, match="kernels"):
        apply_dynamic_filters(torch.zeros(2, 1, 16, 16), torch.zeros(2, 24, 4, 4), 4)
    with pytest.raises(ValueError, match="kernels"):
        apply_dynamic_filters(torch.zeros(2, 1, 16, 16), torch.zeros(2, 25, 8, 8), 4)


def test_motion_head_predicts_moved_copies_of_the_current_frame():
    model = _model(CAUSAL["motion-patch4"])
    x = _frames(CAUSAL["motion-patch4"])
    with torch.no_grad():
        y = model(x)
    # a softmax-weighted average of pixels of frame t: within its range, never made up
    assert y.min() >= 0 and y.max() <= 1
    assert torch.all(y.amax(dim=(2, 3, 4)) <= x.amax(dim=(2, 3, 4)) + 1e-6)
    with torch.no_grad():
        white = model(torch.ones_like(x))  # sums of softmax weights may round above 1
    assert white.max() <= 1.0 and white.min() >= 0.0


@pytest.mark.parametrize("choice", [0, 1, 2])
def test_masked_motion_head_picks_moved_copies_or_the_drawn_frame(choice):
    config = CAUSAL["masked-patch4"]  # 2 kernels of 3x3, 4x4 patches, 1 channel
    model = _model(config)
    x = _frames(config)
    with torch.no_grad():
        model.head.weight.zero_()
        bias = model.head.bias.view(-1)
        bias.zero_()
        bias[4] = 50.0  # kernel 0: all weight on its centre, i.e. the frame stays put
        bias[9 + 7] = 50.0  # kernel 1: all on (dy, dx) = (2, 1): out(y, x) = frame(y + 1, x)
        bias[18:34] = 3.0  # drawn pixels: sigmoid(3) everywhere
        bias[34 + 16 * choice : 34 + 16 * (choice + 1)] = 50.0  # every pixel picks `choice`
        y = model(x)
    shifted = torch.zeros_like(x)
    shifted[..., :-1, :] = x[..., 1:, :]  # out(y) = frame(y + 1)
    expected = [x, shifted, torch.full_like(x, torch.sigmoid(torch.tensor(3.0)).item())][choice]
    torch.testing.assert_close(y, expected, atol=1e-5, rtol=0)


def test_masked_motion_head_starts_as_a_motion_head_with_a_black_drawn_frame():
    model = _model(CAUSAL["masked-patch4"])
    with torch.no_grad():
        black = model(torch.zeros(2, 3, 1, 16, 16))
    assert black.max() < 1e-3  # a grey drawn frame would add about 0.5 / 3 everywhere


def test_predictor_needs_a_model_config():
    with pytest.raises(ValueError, match="ModelConfig"):
        NextFramePredictor({"filters": (4,)})
    with pytest.raises(ValueError, match="NextFramePredictor"):
        model_config(torch.nn.Linear(2, 2))


@pytest.mark.parametrize("config", CAUSAL.values(), ids=CAUSAL)
def test_causal_outputs_ignore_later_frames_exactly(config):
    model, x = _model(config), _frames(config)
    changed = x.clone()
    changed[:, 3:] = torch.rand_like(changed[:, 3:])
    with torch.no_grad():
        a, b = model(x), model(changed)
    assert torch.equal(a[:, :3], b[:, :3])  # predictions of frames 1..3 saw frames 0..2 only
    assert not torch.equal(a[:, 3], b[:, 3])


def test_conv3d_head_leaks_the_next_frame():
    model, x = _model(LEAKY), _frames(LEAKY)
    changed = x.clone()
    changed[:, 3] = torch.rand_like(changed[:, 3])
    with torch.no_grad():
        a, b = model(x), model(changed)
    assert torch.equal(a[:, :2], b[:, :2])
    assert not torch.equal(a[:, 2], b[:, 2])  # the prediction of frame 3 saw frame 3


def test_mirror_average_predicts_the_mean_of_the_four_mirror_images():
    config = CAUSAL["mirrored-batchnorm-patch2"]
    model, x = _model(config), _frames(config)
    single = build_model(dataclasses.replace(config, mirror_average=False)).eval()
    single.load_state_dict(model.state_dict())  # the same weights: averaging adds none
    with torch.no_grad():
        images = [single(x), single(x.flip(-1)).flip(-1), single(x.flip(-2)).flip(-2)]
        images.append(single(x.flip(-2, -1)).flip(-2, -1))
        averaged = model(x)
        torch.testing.assert_close(averaged, sum(images) / 4, rtol=0, atol=1e-6)
        assert (averaged - images[0]).abs().max() > 1e-3
        model.train(), single.train()  # training runs one pass (batch statistics here)
        torch.testing.assert_close(model(x), single(x), rtol=0, atol=0)


@pytest.mark.parametrize("config", CAUSAL.values(), ids=CAUSAL)
def test_step_by_step_equals_forward(config):
    model, x = _model(config), _frames(config)
    with torch.no_grad():
        full, full_state = model(x, return_state=True)
        state, steps = None, []
        for t in range(x.shape[1]):
            y, state = model.step(x[:, t], state)
            steps.append(y)
        # continuing a sequence from a returned state equals running it whole
        first, mid_state = model(x[:, :4], return_state=True)
        rest = model(x[:, 4:], state=mid_state)
    torch.testing.assert_close(torch.stack(steps, 1), full, rtol=0, atol=1e-6)
    torch.testing.assert_close(torch.cat([first, rest], 1), full, rtol=0, atol=1e-6)
    for (h, c), (h_ref, c_ref) in zip(state, full_state, strict=True):
        torch.testing.assert_close(h, h_ref, rtol=0, atol=1e-6)
        torch.testing.assert_close(c, c_ref, rtol=0, atol=1e-6)


def test_step_errors():
    with pytest.raises(ValueError, match="conv3d head looks one frame ahead"):
        _model(LEAKY).step(torch.zeros(1, 1, 16, 16), None)
    with pytest.raises(ValueError, match="4 dimensions"):
        _model(CAUSAL["plain"]).step(torch.zeros(1, 1, 1, 16, 16), None)
    with pytest.raises(ValueError, match="one \\(h, c\\) per layer"):
        _model(CAUSAL["batchnorm-patch2"])(torch.zeros(1, 2, 1, 16, 16), state=[None])


def test_numpy_layout_round_trip():
    video = np.random.default_rng(0).random((2, 3, 4, 5, 3), dtype=np.float32)
    tensor = to_tensor(video)
    assert tensor.shape == (2, 3, 3, 4, 5) and tensor[1, 2, 0, 3, 4] == video[1, 2, 3, 4, 0]
    assert np.array_equal(to_numpy(tensor), video)


@pytest.mark.parametrize("config", CAUSAL.values(), ids=CAUSAL)
def test_predict_next_is_the_teacher_forced_forward(config):
    model = _model(config).train()
    video = to_numpy(_frames(config, n=3, t=5))
    out = predict_next(model, video, batch_size=2)
    assert out.shape == (3, 4, 16, 16, config.channels) and out.dtype == np.float32
    with torch.no_grad():
        ref = to_numpy(model.eval()(to_tensor(video[:, :-1])))
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-6)


@pytest.mark.parametrize("config", CAUSAL.values(), ids=CAUSAL)
def test_rollout_equals_rerun_for_causal_models(config):
    model = _model(config)
    context = to_numpy(_frames(config, n=3, t=4))
    fast = rollout(model, context, 5, batch_size=2)
    slow = rollout_rerun(model, context, 5)
    assert fast.shape == (3, 5, 16, 16, config.channels)
    np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-5)
    with torch.no_grad():  # the first rolled-out frame is the one-step prediction
        ref = to_numpy(model(to_tensor(context))[:, -1:])
    np.testing.assert_allclose(fast[:, :1], ref, rtol=0, atol=1e-6)
    assert not np.allclose(fast[:, 0], fast[:, -1])


@pytest.mark.parametrize("config", CAUSAL.values(), ids=CAUSAL)
def test_predict_and_rollout_equals_the_two_calls(config):
    model = _model(config)
    video = to_numpy(_frames(config, n=3, t=7))
    for context, horizon in ((4, 5), (6, 2), (1, 3)):
        one_step, rolled = predict_and_rollout(model, video, context, horizon, batch_size=2)
        np.testing.assert_allclose(one_step, predict_next(model, video), rtol=0, atol=1e-6)
        expected = rollout(model, video[:, :context], horizon)
        np.testing.assert_allclose(rolled, expected, rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="fewer than the 7 frames"):
        predict_and_rollout(model, video, 7, 1)


def test_predict_and_rollout_refuses_the_leaky_head():
    video = to_numpy(_frames(LEAKY, n=1, t=4))
    with pytest.raises(ValueError, match="causal model"):
        predict_and_rollout(_model(LEAKY), video, 2, 2)


def test_rollout_rerun_feeds_back_the_whole_sequence_for_the_leaky_head():
    model = _model(LEAKY)
    context = to_numpy(_frames(LEAKY, n=2, t=3))
    out = rollout_rerun(model, context, 3)
    assert out.shape == (2, 3, 16, 16, 1)
    with torch.no_grad():
        seq = to_tensor(context)
        for _ in range(3):
            seq = torch.cat([seq, model(seq)[:, -1:]], 1)
    np.testing.assert_allclose(out, to_numpy(seq[:, 3:]), rtol=0, atol=1e-6)


def test_rollout_errors_and_training_mode_is_restored():
    model = _model(CAUSAL["plain"]).train()
    context = to_numpy(_frames(CAUSAL["plain"], n=1, t=3))
    for fn in (rollout, rollout_rerun):
        with pytest.raises(ValueError, match="horizon"):
            fn(model, context, 0)
    with pytest.raises(ValueError, match="rollout_rerun"):
        rollout(_model(LEAKY), context, 2)
    with pytest.raises(ValueError, match="1 channel"):
        rollout(model, np.zeros((1, 3, 16, 16, 3), np.float32), 2)
    with pytest.raises(ValueError, match="values in \\[0, 1\\]"):
        predict_next(model, context * 2 + 0.5)
    with pytest.raises(ValueError, match="at least 2 frames"):
        predict_next(model, context[:, :1])
    rollout(model, context, 2)
    assert model.training


def test_weights_start_as_keras_starts_them():
    torch.manual_seed(0)
    cell = ConvLSTMCell(in_channels=3, filters=4, kernel_size=3)
    weight = cell.conv.weight.detach()
    recurrent = weight[:, 3:].permute(2, 3, 1, 0).reshape(3 * 3 * 4, 16)  # Keras' layout
    torch.testing.assert_close(recurrent.T @ recurrent, torch.eye(16), atol=1e-5, rtol=0)
    bound = (6 / (3 * 9 + 16 * 9)) ** 0.5  # Glorot-uniform limit for the input kernel
    assert weight[:, :3].abs().max() <= bound
    assert weight[:, :3].std() > bound / 3  # uniform on [-bound, bound] has std bound / sqrt(3)


def test_conv3d_as_conv2d_computes_the_3d_convolution():
    """The stacked 2-D form the model runs on CUDA: same outputs and gradients as nn.Conv3d."""
    from nfp_lib.torch_backend.model import conv3d_as_conv2d

    torch.manual_seed(0)
    conv = torch.nn.Conv3d(6, 2, 3, padding=1)
    x = torch.randn(2, 5, 6, 8, 8, requires_grad=True)
    want = conv(x.transpose(1, 2)).transpose(1, 2)
    got = conv3d_as_conv2d(conv, x)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    grads = [torch.autograd.grad(y.square().sum(), (x, conv.weight)) for y in (got, want)]
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
