"""nfp_lib: next-frame video prediction with convolutional LSTMs, in Keras 3 and PyTorch.

Framework-free pieces (data, metrics, pictures, configuration) import at once. The backends live in
``nfp_lib.torch_backend`` and ``nfp_lib.keras_backend``; importing ``nfp_lib`` imports neither
PyTorch's model code nor Keras, so a notebook can still choose ``KERAS_BACKEND`` first.
"""

from nfp_lib.config import PRESETS, Config, ModelConfig, TrainConfig, load_config

__version__ = "0.1.0"

__all__ = ["PRESETS", "Config", "ModelConfig", "TrainConfig", "load_config", "__version__"]
