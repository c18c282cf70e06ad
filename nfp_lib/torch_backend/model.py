"""The stacked ConvLSTM next-frame predictor, built from a :class:`~nfp_lib.config.ModelConfig`.

Frames flow as ``(N, T, C, H, W)``: optional ``p x p`` patching (``pixel_unshuffle``), the
ConvLSTM layers with an optional ``BatchNorm3d`` after every one but the last, and a head: either
sigmoid pixels and ``pixel_shuffle`` back to full size, or (``motion_kernel``) per-patch softmax
kernels that move the current frame (:func:`apply_dynamic_filters`). Output frame ``t`` is the
prediction of input frame ``t + 1``. With ``mirror_average`` (in eval mode) all of it runs on the
four mirror images of the input, and the output is the mean of their predictions mirrored back.
The Keras backend builds the same network layer for layer.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from nfp_lib.config import ModelConfig, head_bias, head_channels
from nfp_lib.torch_backend.convlstm import ConvLSTM, State


class NextFramePredictor(nn.Module):
    """ConvLSTM layers, optional batch norm between them, and a per-frame (or leaky 3-D) head.

    ``head == "conv2d"``: an ``nn.Conv2d`` applied to each frame, so the prediction of frame
    ``t + 1`` depends on frames ``0..t`` only (causal); the model can be stepped one frame at a
    time with :meth:`step`. ``head == "conv3d"``: the keras-io example's 3x3x3 ``same``
    ``nn.Conv3d``, which also looks one frame ahead, i.e. at the target (kept for teaching).
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if not isinstance(config, ModelConfig):
            raise ValueError(f"config: expected a ModelConfig, got {type(config).__name__}")
        self.config = config
        p = config.patch_size
        in_channels = config.channels * p * p
        layers = []
        for filters, kernel in zip(config.filters, config.kernel_sizes, strict=True):
            layers.append(ConvLSTM(in_channels, filters, kernel, config.activation))
            in_channels = filters
        self.layers = nn.ModuleList(layers)
        self.norms = nn.ModuleList(
            nn.BatchNorm3d(f, eps=1e-3, momentum=0.01) if config.norm == "batch" else nn.Identity()
            for f in config.filters[:-1]
        )
        out_channels = head_channels(config)
        if config.head == "conv2d":
            k = config.head_kernel_size
            self.head = nn.Conv2d(in_channels, out_channels, k, padding=k // 2)
        else:
            self.head = nn.Conv3d(in_channels, out_channels, 3, padding=1)
        nn.init.xavier_uniform_(self.head.weight)  # Keras' Conv3D defaults: Glorot, zero bias
        with torch.no_grad():  # zeros but for the compositing head's drawn frame (head_bias)
            self.head.bias.copy_(torch.tensor(head_bias(config)))

    def forward(
        self,
        x: torch.Tensor,
        state: list[State] | None = None,
        return_state: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, list[State]]:
        """Predict every next frame: ``x`` ``(N, T, C, H, W)`` -> ``(N, T, C, H, W)`` in [0, 1].

        ``state`` (one ``(h, c)`` per layer, as returned with ``return_state=True``; with
        ``mirror_average``, outside training, one per mirror image: a batch of ``4N``)
        continues a sequence where an earlier call stopped; ``None`` starts from zeros.
        """
        self._check_input(x)
        if state is not None and len(state) != len(self.layers):
            raise ValueError(
                f"state: expected one (h, c) per layer ({len(self.layers)}), got {len(state)}"
            )
        mirror = self.config.mirror_average and not self.training
        if mirror:  # four mirror images, each with its own state (training: one pass)
            x = mirror_images(x)
        y, new_state = self._predict(x, state)
        if mirror:  # each image's prediction mirrored back, averaged
            y = mirror_mean(y)
        return (y, new_state) if return_state else y

    def _predict(
        self, x: torch.Tensor, state: list[State] | None
    ) -> tuple[torch.Tensor, list[State]]:
        p = self.config.patch_size
        frames = x
        if p > 1:
            x = F.pixel_unshuffle(x, p)
        new_state = []
        for i, layer in enumerate(self.layers):
            x, layer_state = layer(x, None if state is None else state[i])
            new_state.append(layer_state)
            if i < len(self.norms):  # per channel over N, T, H, W: frames as a batch of depth 1
                x = self.norms[i](x.flatten(0, 1).unsqueeze(2)).squeeze(2).unflatten(0, x.shape[:2])
        if self.config.head == "conv2d":
            y = self.head(x.flatten(0, 1)).unflatten(0, x.shape[:2])
        elif x.is_cuda:
            y = conv3d_as_conv2d(self.head, x)
        else:
            y = self.head(x.transpose(1, 2)).transpose(1, 2)
        if self.config.motion_masks:
            y = self._composite(frames.flatten(0, 1), y.flatten(0, 1)).unflatten(0, y.shape[:2])
        elif self.config.motion_kernel:
            kernels = torch.softmax(y.flatten(0, 1), dim=1)
            y = apply_dynamic_filters(frames.flatten(0, 1), kernels, p).unflatten(0, y.shape[:2])
            y = y.clamp(0, 1)  # a weighted average of pixels, but rounding can pass 1 by a hair
        else:
            y = torch.sigmoid(y)
            if p > 1:
                y = F.pixel_shuffle(y, p)
        return y, new_state

    def _composite(self, frames: torch.Tensor, head: torch.Tensor) -> torch.Tensor:
        """The masked sum of ``M`` moved copies of ``frames`` ``(M', C, H, W)`` and a drawn
        frame, from the head's output ``(M', channels, H/p, W/p)`` (see ``motion_masks``)."""
        cfg, p = self.config, self.config.patch_size
        kk, m = cfg.motion_kernel**2, cfg.motion_masks
        kernels, pixels, masks = torch.split(
            head, [m * kk, cfg.channels * p * p, (m + 1) * p * p], dim=1
        )
        candidates = [
            apply_dynamic_filters(frames, torch.softmax(k, dim=1), p)
            for k in torch.split(kernels, kk, dim=1)
        ]
        candidates.append(F.pixel_shuffle(torch.sigmoid(pixels), p))
        weights = torch.softmax(F.pixel_shuffle(masks, p), dim=1)  # (M', M + 1, H, W)
        y = sum(weights[:, i : i + 1] * c for i, c in enumerate(candidates))
        return y.clamp(0, 1)  # a weighted average of values in [0, 1], up to rounding

    def step(
        self, frame: torch.Tensor, state: list[State] | None = None
    ) -> tuple[torch.Tensor, list[State]]:
        """Feed one frame ``(N, C, H, W)``; returns the predicted next frame and the new state.

        Stepping frame by frame gives what :meth:`forward` gives on the whole sequence (in
        training mode a batch norm then normalises with each frame's statistics alone).
        """
        if not self.config.causal:
            raise ValueError(
                "step: the conv3d head looks one frame ahead (its 3x3x3 kernel spans t-1, t, "
                "t+1), so a prediction cannot be made from the frames so far alone; use a "
                "causal head='conv2d' model, or re-run the whole sequence (rollout_rerun)"
            )
        if frame.dim() != 4:
            raise ValueError(
                f"frame: expected 4 dimensions (N, C, H, W), got shape {tuple(frame.shape)}"
            )
        y, state = self.forward(frame.unsqueeze(1), state, return_state=True)
        return y[:, 0], state

    def _check_input(self, x: torch.Tensor) -> None:
        c, p = self.config.channels, self.config.patch_size
        if x.dim() != 5 or x.shape[1] == 0 or x.shape[2] != c:
            raise ValueError(
                f"x: expected shape (N, T >= 1, C={c}, H, W) (PyTorch layout), got {tuple(x.shape)}"
            )
        if x.shape[3] % p or x.shape[4] % p:
            raise ValueError(
                f"x: height and width must be multiples of patch_size {p}, "
                f"got {x.shape[3]}x{x.shape[4]}"
            )


def mirror_images(x: torch.Tensor) -> torch.Tensor:
    """The four mirror images of ``N`` videos ``(N, ..., H, W)`` as one batch ``(4N, ...)``: as
    they are, left to right, upside down, both."""
    return torch.cat([x, x.flip(-1), x.flip(-2), x.flip(-2, -1)])


def mirror_mean(y: torch.Tensor) -> torch.Tensor:
    """The mean of four predictions ``(4N, ..., H, W)`` of the mirror images of ``N`` videos
    (in :func:`mirror_images`' order), each mirrored back first."""
    same, left_right, upside_down, both = y.chunk(4)
    return (same + left_right.flip(-1) + upside_down.flip(-2) + both.flip(-2, -1)) / 4


def conv3d_as_conv2d(conv: nn.Conv3d, x: torch.Tensor) -> torch.Tensor:
    """``conv``, three frames deep with ``same`` padding, on ``x`` ``(N, T, C, H, W)``, as one
    2-D convolution of every frame stacked with its two neighbours (zeros beyond the ends): the
    same sums. The model takes this path on CUDA: on an H200 the keras-io head's forward and
    backward pass ran 2.7x faster so (cuDNN's 3-D weight gradient for one output channel is a
    slow direct kernel); on a CPU it is 2.5x slower than the 3-D convolution.
    """
    n, t = x.shape[:2]
    padded = F.pad(x, (0, 0, 0, 0, 0, 0, 1, 1))
    frames = torch.cat([padded[:, i : i + t] for i in range(3)], dim=2).flatten(0, 1)
    weight = conv.weight.transpose(1, 2).flatten(1, 2)  # (O, C, 3, k, k) -> (O, 3C, k, k)
    padding = conv.kernel_size[-1] // 2
    return F.conv2d(frames, weight, conv.bias, padding=padding).unflatten(0, (n, t))


def apply_dynamic_filters(
    frames: torch.Tensor, kernels: torch.Tensor, patch_size: int
) -> torch.Tensor:
    """Filter every ``p x p`` patch of ``frames`` with its own ``K x K`` kernel.

    ``frames`` ``(M, C, H, W)``; ``kernels`` ``(M, K*K, H/p, W/p)``, row-major ``(dy, dx)``,
    one kernel per patch, used for every channel. Output pixel ``(y, x)`` of patch ``(i, j)`` is
    ``sum over (dy, dx) of kernels[i, j, dy, dx] * frames[y + dy - K//2, x + dx - K//2]``
    (zeros outside the frame): a cross-correlation, as ``nn.Conv2d`` computes it. With a
    softmax kernel the output is a weighted average of shifted copies, so it stays in the
    frames' range (up to rounding, which the model clamps away).

    Each patch reads a ``(p + K - 1)``-pixel square window around itself, and one grouped
    convolution (a group per patch and channel) filters every window with its kernel, so no
    ``K*K``-times-larger stack of shifted frames is ever built (:class:`_PatchFilter`).
    """
    m, c, height, width = frames.shape
    p, k = patch_size, math.isqrt(kernels.shape[1])
    rows, cols = height // p, width // p
    if k * k != kernels.shape[1] or kernels.shape != (m, k * k, rows, cols):
        raise ValueError(
            f"kernels: expected shape ({m}, K*K, {rows}, {cols}), got {tuple(kernels.shape)}"
        )
    size = p + k - 1
    padded = F.pad(frames, (k // 2,) * 4)
    windows = padded.unfold(2, size, p).unfold(3, size, p)  # (M, C, rows, cols, size, size)
    groups = m * rows * cols * c
    windows = windows.permute(0, 2, 3, 1, 4, 5).reshape(1, groups, size, size)
    weights = kernels.view(m, k, k, rows, cols).permute(0, 3, 4, 1, 2).unsqueeze(3)
    weights = weights.expand(m, rows, cols, c, k, k).reshape(groups, 1, k, k)
    out = _PatchFilter.apply(windows, weights)  # (1, groups, p, p)
    out = out.view(m, rows, cols, c, p, p).permute(0, 3, 1, 4, 2, 5)  # (M, C, rows, p, cols, p)
    return out.reshape(m, c, height, width)


class _PatchFilter(torch.autograd.Function):
    """The grouped convolution of :func:`apply_dynamic_filters`, ``windows`` ``(1, G, S, S)``
    with ``weights`` ``(G, 1, K, K)``, with a faster gradient for the weights: itself a grouped
    convolution, of the windows with the output's gradient (oneDNN's forward kernel for it is
    several times faster than its weight-gradient kernel at these shapes)."""

    @staticmethod
    def forward(ctx, windows: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(windows, weights)
        return F.conv2d(windows, weights, groups=windows.shape[1])

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        # under autocast the forward convolution ran in its dtype (bf16), the saved inputs not
        windows, weights = (t.to(grad.dtype) for t in ctx.saved_tensors)
        groups = windows.shape[1]
        grad_windows = grad_weights = None
        if ctx.needs_input_grad[0]:  # predictions fed back as input (scheduled sampling)
            grad_windows = F.conv_transpose2d(grad, weights, groups=groups)
        if ctx.needs_input_grad[1]:
            per_group = grad.transpose(0, 1).contiguous()  # (G, 1, p, p), a kernel per group
            grad_weights = F.conv2d(windows, per_group, groups=groups).transpose(0, 1)
        return grad_windows, grad_weights


def build_model(config: ModelConfig) -> NextFramePredictor:
    """A freshly initialised :class:`NextFramePredictor` for ``config``."""
    return NextFramePredictor(config)


def model_config(model: nn.Module) -> ModelConfig:
    """The :class:`ModelConfig` a model was built from."""
    if not isinstance(model, NextFramePredictor):
        raise ValueError(
            f"model: expected a NextFramePredictor (build_model), got {type(model).__name__}"
        )
    return model.config
