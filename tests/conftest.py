import numpy as np
import pytest

from nfp_lib import metrics
from nfp_lib.config import SSIM_BCE_WEIGHT


@pytest.fixture
def reference_losses() -> dict:
    """The training losses in numpy, float64: ``loss(y_true, y_pred)`` for every name in
    ``config.LOSSES``."""

    def bce(y, p):
        return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))

    def ssim(y, p):
        return 1 - np.mean(metrics.ssim(y, p))

    return {
        "bce": bce,
        "mse": lambda y, p: np.mean((y - p) ** 2),
        "l1": lambda y, p: np.mean(np.abs(y - p)),
        "ssim": ssim,
        "ssim_bce": lambda y, p: ssim(y, p) + SSIM_BCE_WEIGHT * bce(y, p),
    }
