"""The stacked ConvLSTM next-frame predictor as a Keras 3 functional model.

The layers mirror ``nfp_lib.torch_backend`` one for one, so weights port between them
(:mod:`nfp_lib.porting`): optional ``SpaceToDepth`` patching, ``ConvLSTM2D`` layers named
``convlstm_0``, ``convlstm_1``, ..., a ``BatchNormalization`` (``norm_0``, ...) after every
ConvLSTM but the last when ``norm == "batch"``, a ``Conv3D`` head named ``head``, then either a
sigmoid and optional ``DepthToSpace``, or (``motion_kernel``) a :class:`DynamicFilter` named
``motion`` that moves the input frames with the head's per-patch kernels; with
``mirror_average``, :class:`Mirror` first and :class:`MirrorMean` last. Input and output are
``(N, T, H, W, C)``; output frame ``t`` is the prediction of input frame ``t + 1``.

Where the :class:`~nfp_lib.config.ModelConfig` lives: nowhere extra. Every field can be read back
from the layers themselves (:func:`model_config`), so a ``.keras`` file saved by Keras alone
still says what architecture it holds; ``fit`` also writes ``config.json`` beside it for the
training settings.
"""

from __future__ import annotations

import dataclasses
import math

import keras
from keras import layers, ops

from nfp_lib.config import PRESETS, ModelConfig, head_bias, head_channels
from nfp_lib.validation import check_positive_int

DEFAULT_IMAGE_SIZE = 64


@keras.saving.register_keras_serializable(package="nfp")
class SpaceToDepth(layers.Layer):
    """Cut each frame of ``(N, T, H, W, C)`` into ``p x p`` patches: ``(N, T, H/p, W/p, C*p*p)``.

    The channel order is PyTorch's ``pixel_unshuffle``: channel ``c*p*p + py*p + px`` of patch
    ``(i, j)`` is pixel ``(i*p + py, j*p + px)`` of channel ``c``.
    """

    def __init__(self, block_size: int, **kwargs):
        super().__init__(**kwargs)
        self.block_size = check_positive_int(block_size, "block_size")

    def call(self, x):
        _, t, h, w, c = ops.shape(x)
        p = self.block_size
        x = ops.reshape(x, (-1, h // p, p, w // p, p, c))
        x = ops.transpose(x, (0, 1, 3, 5, 2, 4))  # (N*T, i, j, c, py, px)
        return ops.reshape(x, (-1, t, h // p, w // p, c * p * p))

    def compute_output_shape(self, input_shape):
        n, t, h, w, c = input_shape
        p = self.block_size
        for name, size in (("height", h), ("width", w)):
            if size is not None and size % p:
                raise ValueError(f"SpaceToDepth: {name} {size} is not a multiple of {p}")
        return (n, t, h and h // p, w and w // p, c * p * p)

    def get_config(self):
        return {**super().get_config(), "block_size": self.block_size}


def depth_to_space(x, p: int):
    """``(N, T, H, W, C*p*p)`` -> ``(N, T, H*p, W*p, C)`` in PyTorch's ``pixel_shuffle`` order."""
    _, t, h, w, cpp = ops.shape(x)
    x = ops.reshape(x, (-1, h, w, cpp // (p * p), p, p))
    x = ops.transpose(x, (0, 1, 4, 2, 5, 3))  # (N*T, i, py, j, px, c)
    return ops.reshape(x, (-1, t, h * p, w * p, cpp // (p * p)))


@keras.saving.register_keras_serializable(package="nfp")
class DepthToSpace(layers.Layer):
    """The inverse of :class:`SpaceToDepth` (PyTorch's ``pixel_shuffle`` order)."""

    def __init__(self, block_size: int, **kwargs):
        super().__init__(**kwargs)
        self.block_size = check_positive_int(block_size, "block_size")

    def call(self, x):
        return depth_to_space(x, self.block_size)

    def compute_output_shape(self, input_shape):
        n, t, h, w, cpp = input_shape
        p = self.block_size
        if cpp % (p * p):
            raise ValueError(f"DepthToSpace: channels {cpp} is not a multiple of {p * p}")
        return (n, t, h and h * p, w and w * p, cpp // (p * p))

    def get_config(self):
        return {**super().get_config(), "block_size": self.block_size}


def dynamic_filter(frames, kernels, p: int):
    """Filter every ``p x p`` patch of ``frames`` ``(N, T, H, W, C)`` with its own kernel from
    ``kernels`` ``(N, T, H/p, W/p, K*K)`` (row-major ``(dy, dx)``, the same for every channel):
    Keras' mirror of the PyTorch ``apply_dynamic_filters``.

    A sum of the ``K*K`` shifted frames, each times its kernel weight per patch: only
    elementwise ops, which every backend differentiates cheaply (XLA's gradient of the grouped
    convolution PyTorch uses, with a group per patch, asked for terabytes). The frames are
    viewed as ``(N, T, rows, p, cols, p, C)`` so a patch's weight broadcasts over its pixels.
    """
    _, t, h, w, c = ops.shape(frames)
    rows, cols, kk = ops.shape(kernels)[2:]
    k = math.isqrt(kk)
    padded = ops.pad(frames, [[0, 0], [0, 0], [k // 2, k // 2], [k // 2, k // 2], [0, 0]])
    weights = ops.reshape(kernels, (-1, t, rows, 1, cols, 1, kk))
    out = 0
    for dy in range(k):
        for dx in range(k):
            shifted = ops.reshape(
                padded[:, :, dy : dy + h, dx : dx + w], (-1, t, rows, p, cols, p, c)
            )
            tap = dy * k + dx
            out = out + shifted * weights[..., tap : tap + 1]
    return ops.reshape(out, (-1, t, h, w, c))


@keras.saving.register_keras_serializable(package="nfp")
class DynamicFilter(layers.Layer):
    """Move frames ``(N, T, H, W, C)`` with per-patch kernel logits ``(N, T, H/p, W/p, K*K)``.

    A softmax turns each patch's logits into a ``K x K`` kernel (row-major ``(dy, dx)``), and
    every pixel of the patch becomes that kernel's weighted sum of the frame around it
    (cross-correlation, zeros outside the frame), the same kernel for every channel, clipped to
    [0, 1] against rounding (:func:`dynamic_filter`).
    """

    def __init__(self, patch_size: int, **kwargs):
        super().__init__(**kwargs)
        self.patch_size = check_positive_int(patch_size, "patch_size")

    def call(self, inputs):
        frames, logits = inputs
        moved = dynamic_filter(frames, ops.softmax(logits, axis=-1), self.patch_size)
        return ops.clip(moved, 0, 1)  # a weighted average of pixels, but rounding can pass 1

    def compute_output_shape(self, input_shapes):
        return input_shapes[0]

    def get_config(self):
        return {**super().get_config(), "patch_size": self.patch_size}


@keras.saving.register_keras_serializable(package="nfp")
class MaskedMotion(layers.Layer):
    """The compositing motion head (``ModelConfig.motion_masks``): from frames ``(N, T, H, W, C)``
    and the head's output ``(N, T, H/p, W/p, M*K*K + C*p*p + (M+1)*p*p)``, the masked sum of
    ``M`` moved copies of the frames and a drawn frame, as the PyTorch model computes it."""

    def __init__(self, patch_size: int, motion_kernel: int, masks: int, **kwargs):
        super().__init__(**kwargs)
        self.patch_size = check_positive_int(patch_size, "patch_size")
        self.motion_kernel = check_positive_int(motion_kernel, "motion_kernel")
        self.masks = check_positive_int(masks, "masks")

    def call(self, inputs):
        frames, head = inputs
        p, kk, m = self.patch_size, self.motion_kernel**2, self.masks
        pixels_end = m * kk + ops.shape(frames)[-1] * p * p
        candidates = [
            dynamic_filter(frames, ops.softmax(head[..., i * kk : (i + 1) * kk], axis=-1), p)
            for i in range(m)
        ]
        candidates.append(depth_to_space(ops.sigmoid(head[..., m * kk : pixels_end]), p))
        weights = ops.softmax(depth_to_space(head[..., pixels_end:], p), axis=-1)
        mixed = sum(weights[..., i : i + 1] * c for i, c in enumerate(candidates))
        return ops.clip(mixed, 0, 1)  # a weighted average of values in [0, 1], up to rounding

    def compute_output_shape(self, input_shapes):
        return input_shapes[0]

    def get_config(self):
        return {
            **super().get_config(),
            "patch_size": self.patch_size,
            "motion_kernel": self.motion_kernel,
            "masks": self.masks,
        }


def mirror_images(x):
    """The four mirror images of ``N`` videos ``(N, T, H, W, C)`` as one batch
    ``(4N, T, H, W, C)``: as they are, left to right, upside down, both."""
    up_down = ops.flip(x, axis=2)
    return ops.concatenate([x, ops.flip(x, axis=3), up_down, ops.flip(up_down, axis=3)])


def mirror_mean(y):
    """The mean of four predictions ``(4N, T, H, W, C)`` of the mirror images of ``N`` videos
    (in :func:`mirror_images`' order), each mirrored back first."""
    same, left_right, upside_down, both = ops.split(y, 4, axis=0)
    back = ops.flip(left_right, axis=3), ops.flip(upside_down, axis=2)
    both = ops.flip(ops.flip(both, axis=2), axis=3)
    return (same + back[0] + back[1] + both) / 4


@keras.saving.register_keras_serializable(package="nfp")
class Mirror(layers.Layer):
    """``mirror_average``, first half: when predicting, frames ``(N, T, H, W, C)`` become their
    four mirror images stacked as a batch ``(4N, T, H, W, C)`` (:func:`mirror_images`). In
    training they pass unchanged (one pass)."""

    def call(self, x, training=False):
        return x if training else mirror_images(x)

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="nfp")
class MirrorMean(layers.Layer):
    """``mirror_average``, second half: the mean of the four predictions ``(4N, ...)`` that
    :class:`Mirror`'s images led to, each mirrored back (:func:`mirror_mean`). In training:
    unchanged."""

    def call(self, y, training=False):
        return y if training else mirror_mean(y)

    def compute_output_shape(self, input_shape):
        return input_shape


def build_model(config: ModelConfig, image_size: int | None = None) -> keras.Model:
    """The Keras model for ``config`` on square frames of ``image_size`` pixels (default 64).

    Keras' ConvLSTM2D needs a fixed frame size, so unlike the PyTorch model this one is built
    for one ``image_size``; the number of frames is free.
    """
    if not isinstance(config, ModelConfig):
        raise ValueError(f"config: expected a ModelConfig, got {type(config).__name__}")
    size = check_positive_int(
        DEFAULT_IMAGE_SIZE if image_size is None else image_size, "image_size"
    )
    p = config.patch_size
    if size % p:
        raise ValueError(f"image_size: expected a multiple of patch_size {p}, got {size}")
    frames = keras.Input(shape=(None, size, size, config.channels), name="frames")
    seen = Mirror(name="mirror")(frames) if config.mirror_average else frames
    x = SpaceToDepth(p, name="space_to_depth")(seen) if p > 1 else seen
    last = len(config.filters) - 1
    for i, (filters, kernel) in enumerate(zip(config.filters, config.kernel_sizes, strict=True)):
        x = layers.ConvLSTM2D(
            filters,
            kernel,
            padding="same",
            return_sequences=True,
            activation=config.activation,
            name=f"convlstm_{i}",
        )(x)
        if config.norm == "batch" and i < last:
            x = layers.BatchNormalization(name=f"norm_{i}")(x)
    k = config.head_kernel_size
    head_kernel = (1, k, k) if config.head == "conv2d" else (3, 3, 3)
    if config.motion_masks:
        head = layers.Conv3D(
            head_channels(config),
            head_kernel,
            padding="same",
            bias_initializer=keras.initializers.Constant(head_bias(config)),
            name="head",
        )
        motion = MaskedMotion(p, config.motion_kernel, config.motion_masks, name="motion")
        x = motion([seen, head(x)])
    elif config.motion_kernel:
        logits = layers.Conv3D(config.motion_kernel**2, head_kernel, padding="same", name="head")
        x = DynamicFilter(p, name="motion")([seen, logits(x)])
    else:
        x = layers.Conv3D(
            config.channels * p * p, head_kernel, padding="same", activation="sigmoid", name="head"
        )(x)
        if p > 1:
            x = DepthToSpace(p, name="depth_to_space")(x)
    if config.mirror_average:
        x = MirrorMean(name="mirror_mean")(x)
    return unroll_on_jax(keras.Model(frames, x, name="next_frame_predictor"))


def unroll_on_jax(model: keras.Model) -> keras.Model:
    """Unroll ``model``'s ConvLSTM loops over time on JAX; leave them as loops elsewhere.

    XLA on a CPU differentiates the looped layer (a ``jax.lax.scan``) about five times slower
    than the unrolled one (a training step of the ``plain`` preset: 25 s against 5 s), for
    about twice the compile time. ``unroll`` is saved with the model, and every backend loads
    either setting; :func:`~nfp_lib.keras_backend.load_model` sets it for the backend in use.
    """
    unroll = keras.backend.backend() == "jax"
    for layer in model.layers:
        if isinstance(layer, layers.ConvLSTM2D):
            layer.unroll = unroll
    return model


def build_keras_io_model(image_size: int = 64) -> keras.Model:
    """The keras-io example's model, as published (``PRESETS["keras-io"].model``).

    Three ReLU ConvLSTM2D layers of 64 filters (5x5, 3x3, 1x1) with BatchNormalization between
    them and a 3x3x3 ``same`` Conv3D sigmoid head. That head leaks: its temporal kernel reaches
    one step forward, so the output at time ``t`` (the prediction of frame ``t + 1``) also sees
    input frame ``t + 1``, which is exactly the target. Training with shifted frames therefore
    lets the model peek at the answer, and at prediction time the last output sees only zero
    padding where the next frame would be, so a rollout has to re-run the whole growing
    sequence for every new frame (:func:`~nfp_lib.keras_backend.rollout_rerun`, O(T^2)).
    """
    return build_model(PRESETS["keras-io"].model, image_size=image_size)


def model_config(model: keras.Model) -> ModelConfig:
    """Read the :class:`ModelConfig` back from a model made by :func:`build_model`.

    Two fields have no trace in the layers and read back as their defaults: a ``conv3d`` head is
    always 3x3x3, so ``head_kernel_size`` reads 3; a single ConvLSTM layer has no norm after it,
    so ``norm`` reads ``"none"``. Neither changes the network.
    """
    names = {layer.name: layer for layer in getattr(model, "layers", [])}
    convs = []
    while f"convlstm_{len(convs)}" in names:
        convs.append(names[f"convlstm_{len(convs)}"])
    if not convs or "head" not in names:
        raise ValueError(
            "model: expected a model from nfp_lib.keras_backend.build_model (layers "
            f"'convlstm_0', ..., 'head'), got layers {sorted(names)}"
        )
    head_kernel = tuple(names["head"].kernel_size)
    patch = names["space_to_depth"].block_size if "space_to_depth" in names else 1
    config = ModelConfig(
        filters=tuple(layer.filters for layer in convs),
        kernel_sizes=tuple(layer.kernel_size[0] for layer in convs),
        activation=keras.activations.serialize(convs[0].activation),
        norm="batch" if "norm_0" in names else "none",
        patch_size=patch,
        head="conv2d" if head_kernel[0] == 1 else "conv3d",
        head_kernel_size=head_kernel[1],
        channels=model.input_shape[-1],
        motion_kernel=_motion_kernel(names),
        motion_masks=getattr(names.get("motion"), "masks", 0),
        mirror_average="mirror" in names,
    )
    return canonical(config)


def _motion_kernel(names: dict) -> int:
    motion = names.get("motion")
    if isinstance(motion, MaskedMotion):
        return motion.motion_kernel
    return math.isqrt(names["head"].filters) if motion is not None else 0


def canonical(config: ModelConfig) -> ModelConfig:
    """``config`` with the two fields that do not change the network set as
    :func:`model_config` reads them: two configs build the same network iff these are equal."""
    return dataclasses.replace(
        config,
        norm=config.norm if len(config.filters) > 1 else "none",
        head_kernel_size=config.head_kernel_size if config.head == "conv2d" else 3,
    )


def image_size_of(model: keras.Model) -> int:
    """The frame size (height = width) a model was built for."""
    return model.input_shape[2]
