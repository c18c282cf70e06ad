"""The training losses by name, as ``model.compile`` takes them: BCE, MSE, L1, SSIM and
SSIM + BCE."""

from __future__ import annotations

import keras
from keras import ops

from nfp_lib import metrics
from nfp_lib.config import SSIM_BCE_WEIGHT


@keras.saving.register_keras_serializable(package="nfp")
def ssim_loss(y_true, y_pred):
    """``1 - SSIM`` per sequence ``(N,)`` for frames ``(N, T, H, W, C)`` in [0, 1].

    The SSIM of :func:`nfp_lib.metrics.ssim` (11x11 Gaussian window, sigma 1.5, K1 = 0.01,
    K2 = 0.03, data range 1, only where the window fits), averaged over a sequence's frames and
    channels; Keras then averages over the batch. The torch backend's ``ssim_loss`` computes
    the same.
    """
    shape = ops.shape(y_pred)
    if len(shape) != 5 or min(shape[2], shape[3]) < metrics.SSIM_WINDOW:
        raise ValueError(
            f"ssim_loss: expected frames (N, T, H, W, C) of at least {metrics.SSIM_WINDOW}x"
            f"{metrics.SSIM_WINDOW} pixels (the window), got shape {tuple(shape)}"
        )
    n, height, width = shape[0], shape[2], shape[3]

    def images(x):  # (N, T, H, W, C) -> (N * T * C, H, W, 1)
        x = ops.transpose(ops.cast(x, "float32"), (0, 1, 4, 2, 3))
        return ops.reshape(x, (-1, height, width, 1))

    window = ops.convert_to_tensor(metrics.gaussian_window(), "float32")
    rows = ops.reshape(window, (-1, 1, 1, 1))
    cols = ops.reshape(window, (1, -1, 1, 1))

    def local_mean(x):
        return ops.conv(ops.conv(x, rows, padding="valid"), cols, padding="valid")

    ssim = metrics.ssim_map(images(y_pred), images(y_true), local_mean)
    return 1 - ops.mean(ops.reshape(ssim, (n, -1)), axis=1)


@keras.saving.register_keras_serializable(package="nfp")
def ssim_bce_loss(y_true, y_pred):
    """:func:`ssim_loss` plus ``SSIM_BCE_WEIGHT`` times the mean binary cross-entropy, per
    sequence ``(N,)``; the torch backend's ``ssim_bce_loss`` computes the same."""
    bce = keras.losses.binary_crossentropy(y_true, y_pred)  # (N, T, H, W): mean over channels
    per_sequence = ops.mean(ops.reshape(ops.cast(bce, "float32"), (ops.shape(bce)[0], -1)), 1)
    return ssim_loss(y_true, y_pred) + SSIM_BCE_WEIGHT * per_sequence


KERAS_LOSSES = {
    "bce": "binary_crossentropy",
    "mse": "mean_squared_error",
    "l1": "mean_absolute_error",
    "ssim": ssim_loss,
    "ssim_bce": ssim_bce_loss,
}
