import pytest
import torch
import torch.nn.functional as F

from nfp_lib import bench, torch_backend
from nfp_lib.config import ModelConfig
from nfp_lib.torch_backend import fast

CONFIG = ModelConfig(filters=(4, 4), kernel_sizes=(3, 1), norm="batch", patch_size=2)


def _batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    video = torch.rand(2, 5, 1, 8, 8, generator=g)
    return video[:, :-1], video[:, 1:]


def _model_and_adam(**adam):
    torch.manual_seed(0)
    model = torch_backend.build_model(CONFIG).train()
    return model, torch.optim.Adam(model.parameters(), lr=1e-2, **adam)


def test_eager_fp32_step_is_a_plain_adam_step():
    x, y = _batch()
    model, optimizer = _model_and_adam()
    step = fast.train_step(model, optimizer, F.mse_loss, x, y, bf16=False, cuda_graph=False)
    losses = [step(x, y).item() for _ in range(2)]

    reference, ref_optimizer = _model_and_adam()
    ref_losses = []
    for _ in range(2):
        ref_optimizer.zero_grad()
        loss = F.mse_loss(reference(x), y)
        loss.backward()
        ref_optimizer.step()
        ref_losses.append(loss.item())
    assert losses == ref_losses
    assert losses[1] < losses[0]
    ours, theirs = model.state_dict(), reference.state_dict()
    for name in theirs:
        torch.testing.assert_close(ours[name], theirs[name], rtol=0, atol=0)


def test_bf16_step_computes_the_loss_in_float32_close_to_fp32():
    x, y = _batch(1)
    fp32 = fast.train_step(*_model_and_adam(), F.mse_loss, x, y, bf16=False, cuda_graph=False)
    bf16 = fast.train_step(*_model_and_adam(), F.mse_loss, x, y, bf16=True, cuda_graph=False)
    low, full = bf16(x, y), fp32(x, y)
    assert low.dtype == torch.float32
    assert low.item() == pytest.approx(full.item(), rel=2e-2)
    assert low.item() != full.item()  # the forward really ran in bf16


def test_cuda_graph_needs_a_capturable_optimizer_and_cuda():
    x, y = _batch()
    model, optimizer = _model_and_adam()
    with pytest.raises(ValueError, match="capturable=True"):
        fast.train_step(model, optimizer, F.mse_loss, x, y)
    model, optimizer = _model_and_adam(capturable=True)
    with pytest.raises(ValueError, match="on CUDA, got cpu"):
        fast.train_step(model, optimizer, F.mse_loss, x, y)


def test_channels_last_converts_2d_convolutions_only():
    model = torch_backend.build_model(ModelConfig(filters=(4,), kernel_sizes=(3,), head="conv3d"))
    fast.channels_last_(model)
    cell_weight = model.layers[0].cell.conv.weight
    assert cell_weight.is_contiguous(memory_format=torch.channels_last)
    assert not cell_weight.is_contiguous()
    assert model.head.weight.is_contiguous()


def test_bench_keeps_the_cuda_graph_cases_for_cuda():
    with pytest.raises(ValueError, match="need --device cuda"):
        bench.run_benchmarks("cpu", cases=["keras-io/torch-fast"])
    plain = [name for name, case in bench.CASES.items() if case[2] == "plain"]
    assert plain == [
        "keras-io/keras",
        "keras-io/keras-jax",
        "laptop/keras",
        "laptop/keras-jax",
        "keras-io/torch",
        "laptop/torch",
    ]


def _motion_batch(n=4, frames=6, size=16, seed=2):
    g = torch.Generator().manual_seed(seed)
    video = torch.rand(n, frames, 1, size, size, generator=g)
    return video[:, :-1], video[:, 1:]


MOTION = ModelConfig(
    filters=(8, 8), kernel_sizes=(3, 3), norm="none", patch_size=4, motion_kernel=5
)


def test_a_step_in_thread_slices_is_the_plain_step_within_float_rounding():
    x, y = _motion_batch(n=5)  # slices of 3 and 2 sequences: weighted by their sizes
    results = []
    for threads in (1, 2):
        torch.manual_seed(0)
        model = torch_backend.build_model(MOTION).train()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
        step = fast.train_step(
            model,
            optimizer,
            F.binary_cross_entropy,
            x,
            y,
            bf16=False,
            cuda_graph=False,
            threads=threads,
        )
        results.append(([step(x, y).item() for _ in range(3)], model.state_dict()))
    (plain_losses, plain), (sliced_losses, sliced) = results
    assert sliced_losses == pytest.approx(plain_losses, rel=1e-6)
    assert plain_losses[2] < plain_losses[0]
    for name in plain:
        torch.testing.assert_close(sliced[name], plain[name], rtol=1e-5, atol=1e-6)
    assert any(not torch.equal(sliced[n], plain[n]) for n in plain)  # really another path


def test_thread_slices_are_deterministic_and_restore_the_thread_count():
    x, y = _motion_batch()
    before = torch.get_num_threads()
    states = []
    for _ in range(2):
        torch.manual_seed(0)
        model = torch_backend.build_model(MOTION).train()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
        step = fast.train_step(
            model, optimizer, F.mse_loss, x, y, bf16=False, cuda_graph=False, threads=3
        )
        for _ in range(2):
            step(x, y)
        states.append(model.state_dict())
    for name in states[0]:
        assert torch.equal(states[0][name], states[1][name])
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="threads"):
        fast.train_step(*_model_and_adam(capturable=True), F.mse_loss, x, y, threads=2)


def test_the_motion_head_trains_under_bf16_autocast_close_to_float32():
    x, y = _motion_batch()
    losses = []
    for bf16 in (False, True):
        torch.manual_seed(0)
        model = torch_backend.build_model(MOTION).train()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
        step = fast.train_step(model, optimizer, F.mse_loss, x, y, bf16=bf16, cuda_graph=False)
        losses.append([step(x, y).item() for _ in range(2)])
    assert losses[1] == pytest.approx(losses[0], rel=2e-2)
