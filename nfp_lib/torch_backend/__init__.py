"""The PyTorch backend: ConvLSTM modules, the next-frame predictor, rollouts, training, checkpoints.

Models take and return PyTorch's ``(N, T, C, H, W)`` tensors; the numpy-facing functions
(:func:`predict_next`, :func:`rollout`, :func:`rollout_rerun`, :func:`fit`) take channels-last
``(N, T, H, W, C)`` arrays like the rest of ``nfp_lib``.
"""

from nfp_lib.torch_backend.checkpoint import (
    CHECKPOINT_FORMAT,
    load_checkpoint,
    load_weights,
    save_checkpoint,
)
from nfp_lib.torch_backend.convlstm import ConvLSTM, ConvLSTMCell
from nfp_lib.torch_backend.losses import LOSSES, bce_loss, ssim_bce_loss, ssim_loss
from nfp_lib.torch_backend.model import (
    NextFramePredictor,
    apply_dynamic_filters,
    build_model,
    model_config,
)
from nfp_lib.torch_backend.rollout import (
    predict_and_rollout,
    predict_next,
    rollout,
    rollout_rerun,
    to_numpy,
    to_tensor,
)
from nfp_lib.torch_backend.train import (
    HISTORY_KEYS,
    bf16_native,
    fit,
    sampled_forward,
    teacher_forcing_probability,
)

__all__ = [
    "CHECKPOINT_FORMAT",
    "HISTORY_KEYS",
    "LOSSES",
    "ConvLSTM",
    "ConvLSTMCell",
    "NextFramePredictor",
    "apply_dynamic_filters",
    "bce_loss",
    "bf16_native",
    "build_model",
    "fit",
    "load_checkpoint",
    "load_weights",
    "model_config",
    "predict_and_rollout",
    "predict_next",
    "rollout",
    "rollout_rerun",
    "sampled_forward",
    "save_checkpoint",
    "ssim_bce_loss",
    "ssim_loss",
    "teacher_forcing_probability",
    "to_numpy",
    "to_tensor",
]
