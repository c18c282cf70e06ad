"""The training losses by name: BCE, MSE, L1, SSIM and SSIM + BCE, each
``loss(prediction, target)``.

All take frames in [0, 1] of any shape ending in ``(H, W)`` and return a scalar mean.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from nfp_lib import metrics
from nfp_lib.config import SSIM_BCE_WEIGHT

EPSILON = 1e-7
"""How far from 0 and 1 :func:`bce_loss` clips predictions: Keras' ``backend.epsilon()``."""


def bce_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of predictions clipped to ``[EPSILON, 1 - EPSILON]``, as Keras clips.

    Unclipped, a prediction of exactly 1 where the target is below 1 (or exactly 0 where it is
    above) gets PyTorch's gradient ``(p - y) / max(p (1 - p), 1e-12)``, about 1e11. One such
    pixel ruins Adam's running averages for hundreds of steps. bf16 rounds every value above
    0.998 to 1, so a motion head trained under bf16 autocast met such pixels in every batch and
    stalled at the copy-the-last-frame level; clipped, those pixels get no gradient at all.
    """
    return F.binary_cross_entropy(prediction.clamp(EPSILON, 1 - EPSILON), target)


def ssim_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``1 - SSIM``, the mean over images of :func:`nfp_lib.metrics.ssim`'s score, differentiable.

    The same SSIM the book reports (11x11 Gaussian window, sigma 1.5, K1 = 0.01, K2 = 0.03,
    data range 1, only where the window fits), so training on it optimises that score directly.
    It rewards getting the local means, contrasts and structure of the next frame right rather
    than every pixel's value. Frames must be at least 11x11 pixels.
    """
    if prediction.shape != target.shape:
        raise ValueError(
            f"ssim_loss: expected prediction and target of one shape, got "
            f"{tuple(prediction.shape)} and {tuple(target.shape)}"
        )
    if min(prediction.shape[-2:]) < metrics.SSIM_WINDOW:
        raise ValueError(
            f"ssim_loss: expected frames of at least {metrics.SSIM_WINDOW}x{metrics.SSIM_WINDOW} "
            f"pixels (the window), got {tuple(prediction.shape[-2:])}"
        )
    height, width = prediction.shape[-2:]
    a = prediction.reshape(-1, 1, height, width)
    b = target.reshape(-1, 1, height, width).to(a.dtype)
    window = torch.as_tensor(metrics.gaussian_window(), dtype=a.dtype, device=a.device)
    rows, cols = window.view(1, 1, -1, 1), window.view(1, 1, 1, -1)

    def local_mean(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.conv2d(x, rows), cols)

    ssim = metrics.ssim_map(a, b, local_mean)
    return 1 - ssim.mean()


def ssim_bce_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """:func:`ssim_loss` plus ``SSIM_BCE_WEIGHT`` times :func:`bce_loss`.

    Trained on its own predictions far from the context, a model scored by SSIM alone keeps
    the strokes it is sure of and drops the others, so its rollouts fade; BCE alone keeps the
    ink but blurs it. The sum keeps both (the book's 30-frame fine-tune measures the three).
    """
    return ssim_loss(prediction, target) + SSIM_BCE_WEIGHT * bce_loss(prediction, target)


LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "bce": bce_loss,
    "mse": F.mse_loss,
    "l1": F.l1_loss,
    "ssim": ssim_loss,
    "ssim_bce": ssim_bce_loss,
}
