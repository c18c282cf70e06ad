"""The training losses by name: BCE, MSE, L1 and SSIM, each ``loss(prediction, target)``.

All take frames in [0, 1] of any shape ending in ``(H, W)`` and return a scalar mean.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from nfp_lib import metrics


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


LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "bce": F.binary_cross_entropy,
    "mse": F.mse_loss,
    "l1": F.l1_loss,
    "ssim": ssim_loss,
}
