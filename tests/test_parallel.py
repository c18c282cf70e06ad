import threading

import numpy as np
import torch

from nfp_lib import torch_backend
from nfp_lib.config import PRESETS
from nfp_lib.data import generate_moving_mnist
from nfp_lib.torch_backend.parallel import (
    cpu_workers,
    intra_op_threads,
    thread_map,
    thread_slices,
)


def _where_and_how_many(item):
    return item, threading.get_ident(), torch.get_num_threads()


def test_thread_map_keeps_order_runs_single_threaded_and_restores_the_thread_count():
    with intra_op_threads(2):
        results = thread_map(_where_and_how_many, range(5), workers=2)
        assert torch.get_num_threads() == 2
    assert [r[0] for r in results] == list(range(5))
    assert all(r[1] != threading.get_ident() and r[2] == 1 for r in results)
    alone = thread_map(_where_and_how_many, [7], workers=2)  # one item: here, as it is
    assert alone == [(7, threading.get_ident(), torch.get_num_threads())]


def test_cpu_workers_count_intra_op_threads_only_in_thread_slices():
    cpu = torch.device("cpu")
    with intra_op_threads(3):
        assert cpu_workers(cpu) == 1  # off by default
        with thread_slices():
            assert cpu_workers(cpu) == 3
            assert cpu_workers(torch.device("meta")) == 1
        assert cpu_workers(cpu) == 1


def test_predictions_in_batches_one_per_thread_equal_those_made_whole():
    torch.manual_seed(0)
    model = torch_backend.build_model(PRESETS["tiny"].model)
    video = generate_moving_mnist(5, num_frames=6, size=32, seed=1)
    with intra_op_threads(2):
        with thread_slices():
            sliced = torch_backend.rollout(model, video[:, :3], 3, batch_size=2)
        whole = torch_backend.rollout(model, video[:, :3], 3, batch_size=2)
    np.testing.assert_allclose(sliced, whole, atol=1e-5)  # float rounding: 1e-6 seen
    assert model.training  # the mode is restored
