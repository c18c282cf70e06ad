"""A fast training step: bf16 autocast, channels-last weights, optionally ``torch.compile``, and
on CUDA the whole step (forward, backward, Adam) captured once as a CUDA graph and replayed.

A ConvLSTM runs a few small kernels per layer and frame: at the keras-io example's size (batch
5, 19 frames, three layers) one training step launches thousands of them. A CUDA graph records
every kernel of one step once; each replay then launches them all in a single call.
``torch.compile`` fuses the gate arithmetic (sigmoids, products, sums) into fewer kernels. On an
H200 the keras-io step took 43 ms plain, 36 ms with bf16 and the graph, and 19.5 ms compiled
too (``nfp_lib/results/bench-cuda.json``): fusing mattered more than launching. A profile
(``python -m nfp_lib.gpu_profile``, ``results/bench-cuda-profile.json``) then found the 3-D
head's weight gradient the largest kernel; run as a stacked 2-D convolution
(:func:`~nfp_lib.torch_backend.model.conv3d_as_conv2d`) the compiled step took 17.3 ms.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from nfp_lib.torch_backend.parallel import backward_in_slices

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def channels_last_(model: nn.Module) -> nn.Module:
    """Store every ``Conv2d`` weight channels-last (NHWC), which tensor cores prefer; in place.

    4-D weights only: a ``Conv3d`` head keeps its layout.
    """
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            module.to(memory_format=torch.channels_last)
    return model


def train_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: Loss,
    x: torch.Tensor,
    y: torch.Tensor,
    bf16: bool = True,
    compile_model: bool = False,
    cuda_graph: bool = True,
    warmup: int = 3,
    threads: int = 1,
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """A function ``step(x, y) -> loss`` doing one optimiser step of ``model`` on a batch.

    ``x`` and ``y`` are an example batch: with ``cuda_graph`` every later batch must have their
    shapes, and building the step already trains ``warmup`` steps on them (a graph is captured
    from a step that has run before). ``cuda_graph`` needs the model on CUDA and an optimizer
    made with ``capturable=True``. The loss is computed in float32 (BCE is unsafe in bf16) and
    returned as a tensor, without waiting for the GPU. ``threads`` > 1 (CPU, no batch norm, not
    with ``cuda_graph``) trains that many slices of each batch at once, one per thread
    (:func:`~nfp_lib.torch_backend.parallel.backward_in_slices`).
    """
    if threads > 1 and cuda_graph:
        raise ValueError("threads: slices in threads run eagerly, not in a CUDA graph")
    device = x.device
    forward = torch.compile(model) if compile_model else model

    def loss_of(xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        # cache_enabled=False: a graph must not keep autocast's cached bf16 weight copies.
        with torch.autocast(device.type, torch.bfloat16, enabled=bf16, cache_enabled=False):
            pred = forward(xb)
        return loss_fn(pred.float(), yb)

    def one_step(xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        optimizer.zero_grad(set_to_none=not cuda_graph)
        loss = backward_in_slices(loss_of, (xb, yb), list(model.parameters()), threads)
        optimizer.step()
        return loss

    if not cuda_graph:
        return one_step
    if not optimizer.defaults.get("capturable"):
        raise ValueError(
            "cuda_graph: the optimizer must be made with capturable=True (its step counter "
            "then lives on the GPU, where a replayed graph can advance it)"
        )
    if device.type != "cuda":
        raise ValueError(f"cuda_graph: needs the model and batch on CUDA, got {device}")
    static_x, static_y = x.clone(), y.clone()
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # warm-up: allocations, autotuning, compilation
        for _ in range(max(1, warmup)):
            one_step(static_x, static_y)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static_loss = one_step(static_x, static_y)

    def replay(xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        if xb.shape != static_x.shape or yb.shape != static_y.shape:
            raise ValueError(
                f"x, y: a CUDA-graph step takes the shapes it was built with, "
                f"{tuple(static_x.shape)} and {tuple(static_y.shape)}, got {tuple(xb.shape)} "
                f"and {tuple(yb.shape)}"
            )
        static_x.copy_(xb)
        static_y.copy_(yb)
        graph.replay()
        return static_loss

    return replay
