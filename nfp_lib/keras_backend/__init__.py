"""The Keras 3 backend: the same model and API as ``nfp_lib.torch_backend``, channels-last.

Importing this module imports Keras. When ``KERAS_BACKEND`` is unset and Keras is not imported
yet, it chooses the torch backend; the code itself only uses ``keras.ops``, and the tests run
it on JAX and TensorFlow too.
"""

import os
import sys

if "keras" not in sys.modules:
    os.environ.setdefault("KERAS_BACKEND", "torch")

from nfp_lib.keras_backend.losses import KERAS_LOSSES, ssim_bce_loss, ssim_loss
from nfp_lib.keras_backend.model import (
    DepthToSpace,
    DynamicFilter,
    MaskedMotion,
    SpaceToDepth,
    build_keras_io_model,
    build_model,
    canonical,
    model_config,
    unroll_on_jax,
)
from nfp_lib.keras_backend.rollout import (
    predict_and_rollout,
    predict_next,
    rollout,
    rollout_rerun,
)
from nfp_lib.keras_backend.train import HISTORY_KEYS, bf16_native, fit, load_model, set_precision

__all__ = [
    "HISTORY_KEYS",
    "KERAS_LOSSES",
    "DepthToSpace",
    "DynamicFilter",
    "MaskedMotion",
    "SpaceToDepth",
    "build_keras_io_model",
    "bf16_native",
    "build_model",
    "canonical",
    "fit",
    "load_model",
    "model_config",
    "predict_and_rollout",
    "predict_next",
    "rollout",
    "rollout_rerun",
    "set_precision",
    "ssim_bce_loss",
    "ssim_loss",
    "unroll_on_jax",
]
