"""Data parallelism over threads on a CPU: a batch cut in slices, one slice per core at once.

PyTorch splits each operation over its intra-op threads. A ConvLSTM runs thousands of small
operations per step (a few per layer and frame), each too short to split well, and each ends in
a barrier where every thread waits for the slowest: on a busy machine, for one the system has
descheduled. Here every slice of the batch runs in its own Python thread and every operation on
one intra-op thread, so the cores work without barriers (PyTorch releases the GIL inside its
operations). Each slice is computed the same way whatever the thread count, so results do not
depend on how the threads are scheduled.

It is off unless asked for (:func:`thread_slices`): measured in turns on an idle two-core Xeon,
whole batches were faster (``nfp_lib/results/bench-cpu-fast.json``), while on the same machine
loaded by other jobs the slices were several times faster.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import torch

T = TypeVar("T")
R = TypeVar("R")


_sliced = False  # see thread_slices


def cpu_workers(device: torch.device) -> int:
    """How many slices to run at once on ``device``: inside :func:`thread_slices` on a CPU,
    PyTorch's intra-op threads; else 1 (whole batches)."""
    return torch.get_num_threads() if device.type == "cpu" and _sliced else 1


@contextlib.contextmanager
def thread_slices() -> Iterator[None]:
    """Within the block, :func:`~nfp_lib.torch_backend.fit` and the predictions run each batch
    on a CPU as slices, one per intra-op thread, at once: for a machine busy with other work
    (``bench`` times the two ways in turns)."""
    global _sliced
    before, _sliced = _sliced, True
    try:
        yield
    finally:
        _sliced = before


@contextlib.contextmanager
def intra_op_threads(threads: int) -> Iterator[None]:
    """PyTorch's intra-op thread count set to ``threads`` for the block (it is process-wide)."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def thread_map(fn: Callable[[T], R], items: Sequence[T], workers: int) -> list[R]:
    """``[fn(item) for item in items]``, with up to ``workers`` items at once, each operation
    single-threaded; in this thread, as written, when ``workers`` or ``items`` is 1 or less."""
    workers = min(workers, len(items))
    if workers <= 1:
        return [fn(item) for item in items]
    with intra_op_threads(1), ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, items))


def backward_in_slices(
    loss_of: Callable[..., torch.Tensor],
    batch: Sequence[torch.Tensor | None],
    parameters: Sequence[torch.Tensor],
    workers: int,
) -> torch.Tensor:
    """Backpropagate ``loss_of(*batch)``, a mean over the batch, into ``parameters``' ``.grad``
    as ``workers`` slices of the batch at once; returns the loss (detached).

    Slice ``k`` of ``n_k`` of the ``n`` sequences contributes the gradient of
    ``loss_of(*slice_k) * n_k / n``, so they add up to the whole batch's gradient (within float
    rounding; only for losses that are means over sequences, and models without batch
    statistics). They are added in slice order, so the result does not depend on which thread
    finished first. ``None`` entries of ``batch`` stay ``None`` in every slice. With one worker
    it is ``loss_of(*batch).backward()``.
    """
    if workers <= 1:
        loss = loss_of(*batch)
        loss.backward()
        return loss.detach()
    n = len(batch[0])
    cut = [b.tensor_split(workers) if b is not None else [None] * workers for b in batch]
    slices = [part for part in zip(*cut, strict=True) if len(part[0])]
    parameters = [p for p in parameters if p.requires_grad]

    def run(part: tuple[torch.Tensor | None, ...]) -> tuple[torch.Tensor, list]:
        loss = loss_of(*part) * (len(part[0]) / n)
        return loss.detach(), torch.autograd.grad(loss, parameters, allow_unused=True)

    results = thread_map(run, slices, workers)
    for i, parameter in enumerate(parameters):
        for _, grads in results:
            if grads[i] is not None:
                parameter.grad = grads[i] if parameter.grad is None else parameter.grad + grads[i]
    return sum(loss for loss, _ in results)
