import numpy as np
import pytest

from nfp_lib import metrics


@pytest.fixture
def reference_losses() -> dict:
    """The training losses in numpy, float64: ``loss(y_true, y_pred)`` for bce, mse, l1 and ssim."""
    return {
        "bce": lambda y, p: -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)),
        "mse": lambda y, p: np.mean((y - p) ** 2),
        "l1": lambda y, p: np.mean(np.abs(y - p)),
        "ssim": lambda y, p: 1 - np.mean(metrics.ssim(y, p)),
    }
