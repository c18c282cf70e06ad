"""One configuration object for a model and its training, shared by both backends.

A :class:`Config` holds a :class:`ModelConfig` (the architecture) and a :class:`TrainConfig`
(how to fit it). The same object builds the same network in PyTorch and in Keras, so weights
port between them. Presets name the configurations the book uses; :func:`load_config` reads a
preset name or a JSON file.
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
from dataclasses import dataclass, field
from pathlib import Path

ACTIVATIONS = ("tanh", "relu")
NORMS = ("none", "batch")
HEADS = ("conv2d", "conv3d")
LOSSES = ("bce", "mse", "l1", "ssim", "ssim_bce")
SSIM_BCE_WEIGHT = 3.0
"""``ssim_bce`` is ``1 - SSIM + SSIM_BCE_WEIGHT * BCE``: SSIM for sharp strokes, BCE for ink."""
OPTIMIZERS = ("adam", "adamw")
LR_SCHEDULES = ("plateau", "cosine")
DIGIT_SOURCES = ("sklearn", "varied", "mnist")  # see data.load_digits
# Bounds that keep a model and its data within a machine's memory: generated sequences are held
# as float32 (``num_train`` and ``num_val`` of ``num_frames`` frames of ``image_size`` squared).
MAX_IMAGE_SIZE, MAX_FRAMES, MAX_FILTERS, MAX_KERNEL, MAX_CHANNELS = 512, 1000, 1024, 31, 4
MAX_DATA_BYTES = 16 * 2**30
MAX_EPOCHS, MAX_BATCH, MAX_SEED, MAX_CONFIG_BYTES = 100_000, 4096, 2**32 - 1, 2**20


def _build(kind: type, values: dict):
    if not isinstance(values, dict):
        raise ValueError(f"{kind.__name__}: expected an object of settings, got {values!r:.100}")
    names = {f.name for f in dataclasses.fields(kind)}
    unknown = set(values) - names
    if unknown:
        raise ValueError(f"{kind.__name__}: unknown keys {sorted(unknown)}; known: {sorted(names)}")
    return kind(**values)


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name}: expected one of {choices}, got {value!r}")


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_types(config: object) -> None:
    """Every field of a config dataclass has its declared type: a bool is a bool, an int an int
    (not a float or a string), a float a finite number; integer tuples become tuples."""
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if f.type == "tuple[int, ...]":
            if not isinstance(value, (list, tuple)) or not all(_is_int(v) for v in value):
                raise ValueError(f"{f.name}: expected a list of integers, got {value!r:.100}")
            object.__setattr__(config, f.name, tuple(int(v) for v in value))
        elif f.type == "int" and not _is_int(value):
            raise ValueError(f"{f.name}: expected an integer, got {value!r:.100}")
        elif f.type == "float" and not (
            isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
        ):
            raise ValueError(f"{f.name}: expected a finite number, got {value!r:.100}")
        elif f.type == "bool" and not isinstance(value, bool):
            raise ValueError(f"{f.name}: expected true or false, got {value!r:.100}")
        elif f.type == "str" and not isinstance(value, str):
            raise ValueError(f"{f.name}: expected a string, got {value!r:.100}")


def _check_range(name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise ValueError(f"{name}: expected an integer from {low} to {high}, got {value}")


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of a stacked ConvLSTM next-frame predictor.

    filters / kernel_sizes: one entry per ConvLSTM layer.
    activation: the cell's candidate and output activation (Keras' ``activation``); the gates
        always use a sigmoid (Keras' ``recurrent_activation``).
    norm: ``"batch"`` puts a BatchNormalization after every ConvLSTM layer but the last,
        as in the keras-io example; ``"none"`` leaves it out.
    patch_size: space-to-depth factor; 4 turns a 64x64x1 frame into 16x16x16 before the
        ConvLSTM stack and back after the head.
    head: ``"conv2d"`` is a per-frame convolution (causal: the prediction for frame t+1 only
        sees frames up to t). ``"conv3d"`` is the keras-io example's 3x3x3 ``same`` Conv3D,
        which also sees the next input frame, i.e. the target: kept for teaching only.
    head_kernel_size: spatial kernel of the head.
    motion_kernel: 0 (the default): the head predicts the next frame's pixels through a
        sigmoid. An odd ``K > 0``: the head predicts, for every patch (every pixel when
        ``patch_size`` is 1), a ``K x K`` softmax kernel, and the next frame is the current
        frame filtered with it, so each patch's content moves by a learned, input-dependent
        shift of up to ``K // 2`` pixels (a dynamic filter, De Brabandere et al., 2016). The
        ConvLSTM then tracks where things move instead of redrawing them.
    motion_masks: 0 (the default): the motion head's one kernel per patch makes the whole next
        frame. ``M > 0`` (with ``motion_kernel``): the head predicts ``M`` kernels per patch, a
        drawn frame (sigmoid pixels, as the pixel head draws them) and, per pixel, a softmax
        mask over these ``M + 1`` candidates; the next frame is the masked sum of the ``M``
        moved copies and the drawn frame (CDNA, Finn et al., 2016). Two digits that cross can
        then move apart again, each with its own kernel, and ink can appear where the current
        frame has none.
    mirror_average: False (the default): one pass. True: when predicting (not in training),
        the same network, with the same weights, runs on the four mirror images of the input
        (as it is, left to right, upside down, both), each with its own state, and predicts the
        mean of their four predictions, each mirrored back: four times the arithmetic. Moving
        MNIST's motions are mirror-symmetric, so the four are four guesses at the same future,
        whose errors partly cancel. Training runs one pass, as dropout trains one thinned
        network at a time and predicts with all; ``TrainConfig.mirror`` then shows it the
        mirror images it will be asked about. No weights are added, so ``init_from`` accepts
        a checkpoint that differs in this field alone.
    """

    filters: tuple[int, ...] = (64, 64, 64)
    kernel_sizes: tuple[int, ...] = (5, 3, 1)
    activation: str = "tanh"
    norm: str = "batch"
    patch_size: int = 1
    head: str = "conv2d"
    head_kernel_size: int = 3
    channels: int = 1
    motion_kernel: int = 0
    motion_masks: int = 0
    mirror_average: bool = False

    def __post_init__(self) -> None:
        _check_types(self)
        if not self.filters:
            raise ValueError("filters: expected at least one ConvLSTM layer, got none")
        if len(self.filters) != len(self.kernel_sizes):
            raise ValueError(
                f"kernel_sizes: expected one per layer ({len(self.filters)}), "
                f"got {len(self.kernel_sizes)}"
            )
        if any(f < 1 for f in self.filters):
            raise ValueError(f"filters: expected positive integers, got {self.filters}")
        if any(f > MAX_FILTERS for f in self.filters):
            raise ValueError(
                f"filters: expected at most {MAX_FILTERS} per layer, got {self.filters}"
            )
        kernels = (*self.kernel_sizes, self.head_kernel_size)
        if any(k < 1 or k % 2 == 0 or k > MAX_KERNEL for k in kernels):
            raise ValueError(
                f"kernel sizes: expected odd integers from 1 to {MAX_KERNEL} (for 'same' "
                f"padding), got {self.kernel_sizes} and head {self.head_kernel_size}"
            )
        _check_choice("activation", self.activation, ACTIVATIONS)
        _check_choice("norm", self.norm, NORMS)
        _check_choice("head", self.head, HEADS)
        _check_range("patch_size", self.patch_size, 1, 16)
        _check_range("channels", self.channels, 1, MAX_CHANNELS)
        motion = self.motion_kernel
        if not 0 <= motion <= MAX_KERNEL or (motion and motion % 2 == 0):
            raise ValueError(
                "motion_kernel: expected 0 (predict pixels) or an odd kernel size, "
                f"got {self.motion_kernel}"
            )
        if self.motion_masks < 0 or (self.motion_masks and not self.motion_kernel):
            raise ValueError(
                "motion_masks: expected 0, or a number of kernels >= 1 with a motion_kernel, "
                f"got {self.motion_masks} with motion_kernel {self.motion_kernel}"
            )

    @property
    def causal(self) -> bool:
        """True when the prediction for frame t+1 depends on frames up to t only."""
        return self.head == "conv2d"


def head_channels(config: ModelConfig) -> int:
    """Output channels of the head: pixels, one motion kernel, or kernels, pixels and masks."""
    p, kk = config.patch_size, config.motion_kernel**2
    if config.motion_masks:
        m = config.motion_masks
        return m * kk + config.channels * p * p + (m + 1) * p * p
    return kk or config.channels * p * p


# The compositing head's starting biases: the drawn frame starts nearly black (sigmoid(-8)) and
# its share of the mask small (softmax logit -3 against 0 for the moved copies), so training
# starts where the plain motion head starts. From a grey drawn frame (biases 0) every background
# pixel has a gradient, and in the book's runs the loss then stalled at the copy-last level.
DRAWN_PIXEL_BIAS, DRAWN_MASK_BIAS = -8.0, -3.0


def head_bias(config: ModelConfig) -> list[float]:
    """The head's initial bias, one value per output channel: zeros, except for the compositing
    head's drawn frame and its mask (``DRAWN_PIXEL_BIAS``, ``DRAWN_MASK_BIAS``)."""
    bias = [0.0] * head_channels(config)
    if config.motion_masks:
        p, m, kk = config.patch_size, config.motion_masks, config.motion_kernel**2
        pixels = config.channels * p * p
        bias[m * kk : m * kk + pixels] = [DRAWN_PIXEL_BIAS] * pixels
        bias[m * kk + pixels + m * p * p :] = [DRAWN_MASK_BIAS] * (p * p)
    return bias


@dataclass(frozen=True)
class TrainConfig:
    """How to fit a model on generated Moving MNIST.

    num_train / num_val: sequences generated for training and validation, ``num_frames`` frames of
        ``image_size`` pixels square, digits from ``digits`` ("sklearn" or "varied", offline, or
        "mnist").
    fresh_data: draw new training sequences every epoch (as OpenSTL does) instead of
        reusing one fixed set.
    mirror: show each training sequence as drawn, mirrored left to right, upside down, or both,
        one of the four at random (seeded; validation sequences are never mirrored). Bounces
        off the edges are mirror-symmetric, so a mirrored video is still a valid one, with
        mirrored digits: the model learns its motions in all four orientations, which a
        ``mirror_average`` model uses.
    average_mirrors: for a ``mirror_average`` model, train it as it predicts: every step runs
        the four mirror images of each sequence (each with its own state), and the loss is
        taken on the mean of their predictions mirrored back, which is also what a
        free-running step feeds back (four times the arithmetic per sequence). Off (the
        default), training runs one pass, as dropout trains.
    loss: the training loss, averaged over pixels: ``"bce"`` (binary cross-entropy, the
        keras-io example's), ``"mse"`` (squared error, most papers'), ``"l1"`` (absolute error)
        or ``"ssim"`` (1 - SSIM, the book's structural similarity with its Gaussian window),
        or ``"ssim_bce"`` (both summed: ``1 - SSIM + SSIM_BCE_WEIGHT * BCE``).
        Where the next frame is uncertain, BCE and MSE are lowest for the average of the
        possible frames (a blur) and L1 for their per-pixel median, which stays sharper; SSIM
        scores local brightness, contrast and structure rather than single pixels, and on
        frames far from the context it lets a model keep sharp strokes by dropping faint ones
        (its rollouts fade); the BCE term of ``ssim_bce`` keeps the ink.
    finish_loss / finish_from: from epoch ``finish_from`` on (counted from 1; 0: never), train
        with ``finish_loss`` instead of ``loss``. BCE learns the motion fastest and L1 then
        sharpens what BCE blurred (better than SSIM did, in the book's runs). Those epochs'
        ``val_loss`` is the new loss, so early stopping, the plateau schedule and ``best.pt``
        start their record afresh when the loss changes.
    lr_schedule: ``"plateau"`` halves (``lr_factor``) the learning rate when the validation loss
        has not improved for ``lr_patience`` epochs; ``"cosine"`` lowers it after every batch
        along a half cosine from ``learning_rate`` to 0 at the end of ``epochs``, the usual
        choice for a fixed budget (a cosine run resumes only with the same ``epochs``).
    sampling_steps: scheduled sampling. The first ``context_frames`` inputs of every sequence
        are always the true frames (what a rollout is shown); for each later one, during the
        first ``sampling_steps`` optimiser steps the probability of feeding the model the true
        frame (instead of its own prediction) falls linearly from 1 to ``sampling_end``, as in
        PredRNN. With ``sampling_end`` 0 training ends free-running, as the model is used in a
        rollout. 0 steps turns scheduled sampling off. ``sampling_start`` optimiser steps of
        plain teacher forcing come first (the fall starts after them).
    ema_decay: 0 (the default) trains as usual. Else keep an exponential moving average of the
        weights, ``average = ema_decay * average + (1 - ema_decay) * weights`` after every
        optimiser step (the first step copies the weights), as Keras' optimizers do with
        ``use_ema``. Validation, ``best`` and the saved model use the average, which smooths
        the noise of large steps: 0.99 averages over about the last 100 steps.
    init_from: "" (the default) starts from freshly initialised weights. Else a shipped
        checkpoint's name or a run folder or model file of this backend, with this model
        configuration, whose weights the run starts from (fine-tuning): only the weights, not
        its optimizer, schedule or step count.
    mixed_precision: the torch backend runs forward passes under bf16 autocast where the device
        computes bf16 natively (a CUDA GPU, or a CPU with AVX512-BF16 or AMX, as the book's is);
        the weights, the loss and the optimiser stay in float32. The Keras backend trains its
        ConvLSTM layers in ``mixed_bfloat16`` where its backend computes bf16 natively (PyTorch
        as above; JAX and TensorFlow on a GPU).
    """

    epochs: int = 20
    batch_size: int = 16
    learning_rate: float = 1e-3
    optimizer: str = "adam"
    weight_decay: float = 0.0
    loss: str = "bce"
    finish_loss: str = ""
    finish_from: int = 0
    lr_schedule: str = "plateau"
    lr_patience: int = 3
    lr_factor: float = 0.5
    early_stopping_patience: int = 6
    num_train: int = 2000
    num_val: int = 200
    num_frames: int = 20
    image_size: int = 64
    digits: str = "sklearn"
    fresh_data: bool = False
    mirror: bool = False
    average_mirrors: bool = False
    sampling_steps: int = 0
    sampling_end: float = 0.0
    sampling_start: int = 0
    context_frames: int = 10
    ema_decay: float = 0.0
    init_from: str = ""
    mixed_precision: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        _check_types(self)
        _check_choice("loss", self.loss, LOSSES)
        if self.finish_from < 0:
            raise ValueError(f"finish_from: expected an epoch >= 1 or 0, got {self.finish_from}")
        if self.finish_from:
            _check_choice("finish_loss", self.finish_loss, LOSSES)
        elif self.finish_loss:
            raise ValueError(
                f"finish_loss: {self.finish_loss!r} is never used with finish_from=0; "
                "set finish_from, or leave finish_loss empty"
            )
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_choice("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        _check_choice("digits", self.digits, DIGIT_SOURCES)
        for name in ("num_train", "num_val"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: expected an integer >= 1, got {getattr(self, name)}")
        _check_range("epochs", self.epochs, 1, MAX_EPOCHS)
        _check_range("batch_size", self.batch_size, 1, MAX_BATCH)
        _check_range("seed", self.seed, 0, MAX_SEED)
        _check_range("image_size", self.image_size, 28, MAX_IMAGE_SIZE)
        _check_range("num_frames", self.num_frames, 2, MAX_FRAMES)
        data_bytes = (self.num_train + self.num_val) * self.num_frames * self.image_size**2 * 4
        if data_bytes > MAX_DATA_BYTES:
            raise ValueError(
                f"num_train, num_val, num_frames, image_size: the sequences would take "
                f"{data_bytes / 2**30:.1f} GiB, expected at most {MAX_DATA_BYTES / 2**30:.0f} GiB"
            )
        for name in ("lr_patience", "sampling_steps", "sampling_start"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: expected an integer >= 0, got {getattr(self, name)}")
        if self.early_stopping_patience < 1:
            raise ValueError(
                "early_stopping_patience: expected an integer >= 1 (epochs without improvement "
                f"before stopping), got {self.early_stopping_patience}"
            )
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate: expected > 0, got {self.learning_rate}")
        if not 0.0 < self.lr_factor < 1.0:
            raise ValueError(f"lr_factor: expected a factor in (0, 1), got {self.lr_factor}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay: expected >= 0, got {self.weight_decay}")
        if self.sampling_steps and not 1 <= self.context_frames <= self.num_frames - 2:
            raise ValueError(
                f"context_frames: expected 1 to {self.num_frames - 2} (num_frames - 2) so that "
                f"scheduled sampling has frames to sample, got {self.context_frames}"
            )
        if not 0.0 <= self.sampling_end <= 1.0:
            raise ValueError(f"sampling_end: expected a probability, got {self.sampling_end}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(
                f"ema_decay: expected 0 (off) or a decay in (0, 1), got {self.ema_decay}"
            )

    def loss_at(self, epoch: int) -> str:
        """The loss that trains epoch ``epoch`` (counted from 1)."""
        if self.finish_from and epoch >= self.finish_from:
            return self.finish_loss
        return self.loss


@dataclass(frozen=True)
class Config:
    """A model and how to train it."""

    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        if self.train.average_mirrors and not self.model.mirror_average:
            raise ValueError(
                "average_mirrors: trains through the mirror average, which needs a model with "
                "mirror_average"
            )
        if self.train.image_size % self.model.patch_size:
            raise ValueError(
                f"image_size: expected a multiple of patch_size {self.model.patch_size}, "
                f"got {self.train.image_size}"
            )

    def to_dict(self) -> dict:
        """A JSON-ready dictionary (tuples become lists)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, data: dict) -> Config:
        """Inverse of :meth:`to_dict`; unknown keys raise a ValueError."""
        if not isinstance(data, dict) or set(data) - {"model", "train"}:
            raise ValueError(f"config: expected keys 'model' and 'train', got {data!r:.200}")
        return cls(
            model=_build(ModelConfig, data.get("model", {})),
            train=_build(TrainConfig, data.get("train", {})),
        )

    def replace(self, model: dict | None = None, train: dict | None = None) -> Config:
        """A copy with some model and/or training fields changed."""
        return Config(
            model=dataclasses.replace(self.model, **(model or {})),
            train=dataclasses.replace(self.train, **(train or {})),
        )


PRESETS: dict[str, Config] = {
    # The keras-io example, faithfully: ReLU ConvLSTMs, BatchNorm, leaky Conv3D head.
    "keras-io": Config(
        ModelConfig(activation="relu", norm="batch", head="conv3d"),
        TrainConfig(epochs=20, batch_size=5, num_train=900, num_val=100),
    ),
    # The same stack with a causal per-frame head: what the book recommends at full size.
    "convlstm-64": Config(
        ModelConfig(filters=(64, 64, 64), kernel_sizes=(5, 3, 1), norm="batch", head="conv2d"),
        TrainConfig(epochs=50, batch_size=16, num_train=10000, num_val=500, fresh_data=True),
    ),
    # CPU-friendly: 4x4 patches make a 64x64 frame 16x16x16, small 3x3 ConvLSTMs track the
    # motion, and a motion head moves the last frame by up to 5 pixels per 4x4 patch instead of
    # redrawing it. About 0.45 s per batch of 8 on two CPU cores with bf16 autocast (0.7 s in
    # float32): 17 epochs take about 13 minutes. BCE at a high learning rate learns the motion
    # fastest; L1 in the last three epochs sharpens it, and a moving average of the weights
    # smooths the jitter of the large steps (*Results and performance* in the book compares the
    # alternatives).
    "laptop": Config(
        ModelConfig(
            filters=(32, 32, 32),
            kernel_sizes=(3, 3, 3),
            norm="none",
            patch_size=4,
            head_kernel_size=3,
            motion_kernel=11,
        ),
        TrainConfig(
            epochs=17,
            batch_size=8,
            learning_rate=8e-3,
            finish_loss="l1",
            finish_from=15,
            num_train=800,
            num_val=100,
            fresh_data=True,
            ema_decay=0.99,
        ),
    ),
    # OpenSTL's ConvLSTM-S: 4 layers of 128, 5x5, 4x4 patches, scheduled sampling, a learning
    # rate annealed over the run. GPU sized.
    "openstl-s": Config(
        ModelConfig(
            filters=(128, 128, 128, 128),
            kernel_sizes=(5, 5, 5, 5),
            norm="none",
            patch_size=4,
            head_kernel_size=1,
        ),
        TrainConfig(
            epochs=200,
            batch_size=16,
            num_train=10000,
            num_val=500,
            fresh_data=True,
            loss="mse",
            lr_schedule="cosine",
            sampling_steps=50000,
        ),
    ),
    # The smallest honest model: seconds per epoch on a CPU, for tests and NFP_QUICK runs.
    "tiny": Config(
        ModelConfig(filters=(8,), kernel_sizes=(3,), norm="none", patch_size=4, head_kernel_size=1),
        TrainConfig(epochs=2, batch_size=8, num_train=32, num_val=8, num_frames=10),
    ),
}
# The plain ConvLSTM the book trains first: the laptop preset with a per-patch sigmoid pixel head
# instead of the motion head, so the two differ in one thing.
PRESETS["plain"] = PRESETS["laptop"].replace(model={"motion_kernel": 0})
# The laptop model with the compositing head (``motion_masks``): two moves per patch and a
# drawn frame, mixed by a predicted mask, trained exactly as ``laptop``.
PRESETS["laptop-masks"] = PRESETS["laptop"].replace(model={"motion_masks": 2})
# The same, twice as wide (3 x 64 filters) and trained for 90 epochs (about an hour on two
# cores with bf16); the learning rate a little lower for the wider layers, no early stop.
PRESETS["wide-masks"] = PRESETS["laptop-masks"].replace(
    model={"filters": (64, 64, 64)},
    train={
        "epochs": 90,
        "learning_rate": 5e-3,
        "finish_from": 86,
        "early_stopping_patience": 200,
    },
)

# Fine-tuning ``wide-masks-torch`` on its own predictions: scheduled sampling lowers the chance of
# being shown the true frame from 1 to 0 over 1,200 steps (12 epochs), then the model runs free,
# as in a rollout, with gradients through the fed-back frames: 12 epochs of BCE at a lower
# learning rate, then 4 of L1.
PRESETS["wide-masks-ss"] = PRESETS["wide-masks"].replace(
    train={
        "init_from": "wide-masks-torch",
        "epochs": 28,
        "learning_rate": 2e-3,
        "finish_loss": "l1",
        "finish_from": 25,
        "sampling_steps": 1200,
        "sampling_end": 0.0,
    },
)

# Longer rollouts, in two runs. ``wide-masks-long`` continues ``wide-masks-ss-torch`` free-running
# on 30-frame clips (10 seen, 20 predicted from its own frames), BCE, a cosine learning rate: the
# digits keep their ink for 20 frames but blur. ``wide-masks-long-ssim`` then continues that run
# (its folder, ``runs/wide-masks-long``) with SSIM + BCE (``ssim_bce``), which sharpens the
# strokes again and keeps most of the ink.
PRESETS["wide-masks-long"] = PRESETS["wide-masks-ss"].replace(
    train={
        "init_from": "wide-masks-ss-torch",
        "epochs": 20,
        "learning_rate": 1e-3,
        "lr_schedule": "cosine",
        "finish_loss": "",
        "finish_from": 0,
        "num_frames": 30,
        "sampling_steps": 1,
    },
)
PRESETS["wide-masks-long-ssim"] = PRESETS["wide-masks-long"].replace(
    train={
        "init_from": "runs/wide-masks-long",
        "epochs": 6,
        "learning_rate": 5e-4,
        "loss": "ssim_bce",
    },
)

# The same budget spent differently: 8x8 patches make a 64x64 frame 8x8x64, a quarter of the
# positions, so 3 x 128 filters cost about what ``wide-masks``' 3 x 64 cost at 16x16 (four times
# the weights). Trained as ``wide-masks`` for 90 epochs, then fine-tuned in two runs, each from
# the last one's folder: ``big-masks-long`` does in one run what ``wide-masks-ss`` and
# ``wide-masks-long`` do in two (30-frame clips, scheduled sampling falling to free-running over
# the first 500 steps, BCE), and ``big-masks-long-ssim`` finishes with ``ssim_bce``.
_BIG = {"filters": (128, 128, 128), "patch_size": 8}
PRESETS["big-masks"] = PRESETS["wide-masks"].replace(model=_BIG)
PRESETS["big-masks-long"] = PRESETS["wide-masks-long"].replace(
    model=_BIG, train={"init_from": "runs/big-masks", "epochs": 24, "sampling_steps": 500}
)
PRESETS["big-masks-long-ssim"] = PRESETS["wide-masks-long-ssim"].replace(
    model=_BIG, train={"init_from": "runs/big-masks-long"}
)
# ``big-masks-more`` runs that last step again for 30 epochs, from the shipped checkpoint and on
# other training videos (seed 1): its validation scores were still rising when it ended.
PRESETS["big-masks-more"] = PRESETS["big-masks-long-ssim"].replace(
    train={"epochs": 30, "init_from": "big-masks-long-ssim-torch", "seed": 1}
)
# ``big-masks-most`` runs it for 50 epochs more, from ``big-masks-more-torch``, on other videos
# (seed 2).
PRESETS["big-masks-most"] = PRESETS["big-masks-more"].replace(
    train={"epochs": 50, "init_from": "big-masks-more-torch", "seed": 2}
)
# ``big-masks-varied`` runs it 36 epochs more, from ``big-masks-most-torch``, on the ``varied``
# digits (slanted, wider, bolder or thinner, wobbled): trained on the sklearn digits alone, the
# models predict real MNIST digits far worse than the digits they learned on.
PRESETS["big-masks-varied"] = PRESETS["big-masks-most"].replace(
    train={"epochs": 36, "init_from": "big-masks-most-torch", "seed": 3, "digits": "varied"}
)
# ``big-masks-mirror`` runs it 32 epochs more, from ``big-masks-most-torch``, on mirrored videos
# (``mirror``: each left to right, upside down, both or as drawn, at random), and predicts with
# ``mirror_average``: the mean of its predictions for the four mirror images of a video.
PRESETS["big-masks-mirror"] = PRESETS["big-masks-most"].replace(
    model={"mirror_average": True},
    train={"epochs": 32, "init_from": "big-masks-most-torch", "seed": 4, "mirror": True},
)
# ``big-masks-averaged`` trains that model 20 epochs more through its mirror average
# (``average_mirrors``): four images per video, so batches of 4 videos (16 images) and 400
# videos an epoch, at a lower learning rate. An averaging model's loss is the same for a video
# and its mirror image, so ``mirror`` is off.
PRESETS["big-masks-averaged"] = PRESETS["big-masks-mirror"].replace(
    train={
        "epochs": 20,
        "batch_size": 4,
        "num_train": 400,
        "learning_rate": 2e-4,
        "init_from": "big-masks-mirror-torch",
        "seed": 5,
        "mirror": False,
        "average_mirrors": True,
    },
)
# ``big-masks-averaged-more`` trains it 28 epochs more the same way, from
# ``big-masks-averaged-torch``, on other videos (seed 6) and at a lower learning rate.
PRESETS["big-masks-averaged-more"] = PRESETS["big-masks-averaged"].replace(
    train={
        "epochs": 28,
        "learning_rate": 1.5e-4,
        "init_from": "big-masks-averaged-torch",
        "seed": 6,
    },
)


def teacher_forcing_probability(
    step: int, sampling_steps: int, sampling_end: float, sampling_start: int = 0
) -> float:
    """Scheduled sampling: the chance of feeding the true frame at optimiser step ``step``.

    1 up to step ``sampling_start``, then falls linearly to ``sampling_end`` over
    ``sampling_steps`` steps and stays there; 1 always when ``sampling_steps`` is 0 (scheduled
    sampling off). Both backends use it.
    """
    if sampling_steps <= 0:
        return 1.0
    fallen = max(0, step - sampling_start) / sampling_steps
    return max(sampling_end, 1.0 - (1.0 - sampling_end) * fallen)


def check_resume(path: str | Path, saved: Config, config: Config, done: int) -> None:
    """Refuse to continue the run at ``path`` (``saved``, ``done`` epochs trained) with a
    ``config`` that differs in any setting but ``epochs`` and the finishing loss. ``epochs`` may
    change unless the learning rate follows a cosine over the run's length, and never below
    ``done``; ``finish_loss`` and ``finish_from`` may change while neither the old nor the new
    finish has started (so a finished run can be continued with a finishing loss)."""
    was, now = _flat(saved), _flat(config)
    changed = [f"{key} {was[key]!r} -> {now[key]!r}" for key in was if was[key] != now[key]]
    epochs = saved.train.epochs, config.train.epochs
    if epochs[0] != epochs[1] and saved.train.lr_schedule != "cosine" and epochs[1] >= done:
        changed.remove(f"train.epochs {epochs[0]!r} -> {epochs[1]!r}")
    if all(f == 0 or f > done for f in (saved.train.finish_from, config.train.finish_from)):
        changed = [
            c for c in changed if not c.startswith(("train.finish_loss ", "train.finish_from "))
        ]
    if changed:
        raise ValueError(
            f"resume: {path} was trained with other settings ({'; '.join(changed)}); a run "
            "continues only with the settings it started with (only epochs may change: not "
            f"below the {done} trained, and not with lr_schedule 'cosine'; and a finishing "
            "loss that has not started)"
        )


def _flat(config: Config) -> dict[str, object]:
    """``{"model.filters": [...], "train.epochs": ..., ...}``."""
    return {
        f"{part}.{key}": value for part, d in config.to_dict().items() for key, value in d.items()
    }


def load_config(name_or_path: str | Path) -> Config:
    """A preset by name (see :data:`PRESETS`) or a JSON file written by :meth:`Config.to_dict`."""
    if str(name_or_path) in PRESETS:
        return PRESETS[str(name_or_path)]
    path = Path(name_or_path)
    if not path.is_file():
        raise ValueError(
            f"config: expected a preset ({', '.join(PRESETS)}) or a JSON file, got {name_or_path!r}"
        )
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise ValueError(f"config: {path} is {path.stat().st_size} bytes, expected a JSON config")
    try:
        data = json.loads(path.read_text())
    except (ValueError, RecursionError) as err:  # bad JSON or UTF-8; nesting too deep
        raise ValueError(f"config: {path} is not valid JSON ({type(err).__name__})") from None
    try:
        return Config.from_dict(data)
    except ValueError as err:
        raise ValueError(f"config {path}: {err}") from None
