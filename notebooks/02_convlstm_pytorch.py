# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # A ConvLSTM in PyTorch
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/nfp-book/nfp/blob/main/notebooks/02_convlstm_pytorch.ipynb)
#
# This chapter builds the model of the book from the ground up, in plain PyTorch. We write the
# convolutional LSTM cell of Shi et al. (2015) in a few lines, check it against the one in
# `nfp_lib`, stack three of them into a next-frame predictor with a head that moves the pixels of
# the last frame, and follow a batch of Moving MNIST videos through it, shape by shape. Then we
# check the one property a next-frame predictor must have and that is easy to lose: its
# prediction of frame t + 1 may only look at frames 1 to t. No training yet; that is a later
# chapter.

# %% [markdown]
# ## Set-up
#
# The book's code lives in a small library, `nfp_lib`. On your own machine `make book` has
# installed it already; on Colab this cell installs it from GitHub (once per session).

# %%
import subprocess
import sys

try:
    import nfp_lib  # noqa: F401
except ImportError:
    subprocess.check_call(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "nfp-lib @ git+https://github.com/nfp-book/nfp",
        ]
    )

# %% [markdown]
# The **parameters** cell. Nothing here trains, so even the defaults run in seconds;
# `NFP_QUICK=1` only shortens the videos and the context.

# %% tags=["parameters"]
import os

QUICK = os.environ.get("NFP_QUICK") == "1"
BATCH = 2  # videos pushed through the model
NUM_FRAMES = 12 if QUICK else 20  # frames per video
IMAGE_SIZE = 64  # pixels, square
CONTEXT = 6 if QUICK else 10  # frames seen before a rollout
SEED = 0

# %%
import pprint
import textwrap
import time
from dataclasses import replace

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from IPython.display import Markdown, display

from nfp_lib import bench, data, torch_backend, viz
from nfp_lib.config import PRESETS

# (manual_seed returns the generator; nothing to show)
_ = torch.manual_seed(SEED)

# %% [markdown]
# ## From LSTM to ConvLSTM
#
# An LSTM reads a sequence one element at a time and carries two vectors along: a *hidden
# state* h, its output, and a *cell state* c, its memory. At every step three *gates* (numbers
# between 0 and 1, one per memory cell) decide how much of the old memory to keep (forget gate
# f), how much of a new *candidate* g to write (input gate i) and how much of the memory to show
# as output (output gate o). Each gate is a matrix product of the input and the previous hidden
# state, followed by a sigmoid.
#
# A video frame could be flattened into one long vector and fed to such an LSTM, but that throws
# away what makes it an image: every memory cell would be connected to every pixel, with a
# weight for each pair (a 64 x 64 frame and 64 cells already need 4 x 64 x 4096 input weights),
# and a digit moving one pixel to the right would look like a completely different input.
#
# The **convolutional LSTM** (ConvLSTM) of Shi et al. (2015) keeps the LSTM and replaces every
# matrix product with a convolution. The input $x_t$, the hidden state $h_t$ and the cell state
# $c_t$ are then all images, tensors of shape (channels, height, width), and each memory cell
# sits at a pixel and only looks at its neighbourhood. With $*$ a convolution with "same"
# padding (so the image size does not change), $\sigma$ the sigmoid, $\odot$ the element-wise
# product and $\operatorname{act}$ the activation ($\tanh$ in the paper):
#
# $$
# \begin{aligned}
# i_t &= \sigma\left(W_{xi} * x_t + W_{hi} * h_{t-1} + b_i\right) && \text{input gate} \\
# f_t &= \sigma\left(W_{xf} * x_t + W_{hf} * h_{t-1} + b_f\right) && \text{forget gate} \\
# g_t &= \operatorname{act}\left(W_{xc} * x_t + W_{hc} * h_{t-1} + b_c\right)
#     && \text{candidate} \\
# o_t &= \sigma\left(W_{xo} * x_t + W_{ho} * h_{t-1} + b_o\right) && \text{output gate} \\
# c_t &= f_t \odot c_{t-1} + i_t \odot g_t \\
# h_t &= o_t \odot \operatorname{act}(c_t)
# \end{aligned}
# $$
#
# (The paper also lets the gates peek at the cell state, the "peephole" terms
# $W_{ci} \odot c_{t-1}$; Keras' `ConvLSTM2D` leaves them out and so do we.)
#
# Eight convolutions look like a lot, but they all read the same two images. Stack $x_t$ and
# $h_{t-1}$ along the channel axis and the eight become **one** convolution whose output has
# four times as many channels as the cell has filters, one block per gate:
#
# $$
# \left[\, z_i, z_f, z_c, z_o \,\right] = W * \left[\, x_t, h_{t-1} \,\right] + b ,
# \qquad
# i_t = \sigma(z_i),\; f_t = \sigma(z_f),\; g_t = \operatorname{act}(z_c),\;
# o_t = \sigma(z_o).
# $$
#
# The blocks come in the order i, f, c, o, the order Keras uses, so that the weights of the two
# frameworks line up one to one ([A ConvLSTM in Keras](03_convlstm_keras.ipynb) moves weights
# between them).

# %% [markdown]
# ## The cell in a few lines
#
# Here is one step of the cell in plain PyTorch: one fused `conv2d` over the stacked input and
# hidden state, split into the four gate blocks, then the two update equations. `weight` has
# shape `(4 * filters, in_channels + filters, k, k)`.


# %%
def convlstm_step(x, h, c, weight, bias, act=torch.tanh):
    """One ConvLSTM step: frame x (N, C, H, W) and state h, c (N, F, H, W)
    -> the new h, c."""
    z = F.conv2d(
        torch.cat([x, h], dim=1), weight, bias, padding=weight.shape[-1] // 2
    )
    z_i, z_f, z_c, z_o = torch.chunk(z, 4, dim=1)
    i, f, o = torch.sigmoid(z_i), torch.sigmoid(z_f), torch.sigmoid(z_o)
    g = act(z_c)
    c = f * c + i * g
    h = o * act(c)
    return h, c


# %% [markdown]
# `nfp_lib.torch_backend.ConvLSTMCell` is the library's version of the same cell, an
# `nn.Module` that holds the fused convolution as `cell.conv`. We make one with 3 input channels
# and 8 filters, take its weights, and run both on a random frame and a random (non-zero) state.

# %%
cell = torch_backend.ConvLSTMCell(
    in_channels=3, filters=8, kernel_size=3, activation="tanh"
)
print("fused convolution:")
print(cell.conv)
print(
    "weight",
    tuple(cell.conv.weight.shape),
    " bias",
    tuple(cell.conv.bias.shape),
)

x = torch.randn(2, 3, 16, 16)
h0, c0 = torch.randn(2, 8, 16, 16), torch.randn(2, 8, 16, 16)
with torch.no_grad():
    h_ours, c_ours = convlstm_step(x, h0, c0, cell.conv.weight, cell.conv.bias)
    h_lib, (_, c_lib) = cell(x, (h0, c0))
print("max |h ours - h library|:", (h_ours - h_lib).abs().max().item())
print("max |c ours - c library|:", (c_ours - c_lib).abs().max().item())

# %% [markdown]
# The same numbers. Two details of the library cell are worth knowing. Its state starts at
# zeros when none is given (the first frame of a video has no past). And its biases start at 0
# except the forget gate's, which starts at 1: $\sigma(1) \approx 0.73$, so a fresh cell keeps
# most of its memory from step to step instead of halving it, a trick that makes LSTMs easier
# to train (Keras calls it `unit_forget_bias`).

# %%
bias = cell.conv.bias.detach()
for name, block in zip("ifco", bias.chunk(4), strict=True):
    print(f"bias of gate {name}: {block.tolist()}")

# %% [markdown]
# ## A layer: the cell over time
#
# A ConvLSTM *layer* (`torch_backend.ConvLSTM`) runs its cell over a whole video, frame after
# frame, and returns the hidden state of every step. PyTorch wants images as (channels, height,
# width), so a batch of videos is a tensor `(N, T, C, H, W)`. `nfp_lib` keeps its arrays
# channels-last, `(N, T, H, W, C)` in numpy; `torch_backend.to_tensor` converts one into the other
# (and `to_numpy` converts back).

# %%
videos = data.generate_moving_mnist(
    BATCH, num_frames=NUM_FRAMES, size=IMAGE_SIZE, seed=SEED
)
frames = torch_backend.to_tensor(videos)
print("numpy videos (N, T, H, W, C):", videos.shape)
print("torch frames (N, T, C, H, W):", tuple(frames.shape))

layer = torch_backend.ConvLSTM(in_channels=1, filters=8, kernel_size=3)
with torch.no_grad():
    hs, (h_last, c_last) = layer(frames)
print("every hidden state (N, T, F, H, W):", tuple(hs.shape))
print("last state h, c (N, F, H, W):", tuple(h_last.shape), tuple(c_last.shape))

# %% [markdown]
# Each of the 8 filters is an image the size of the frame, at every time step. The layer does
# not change the size of the image, only the number of channels.

# %% [markdown]
# ## The next-frame predictor
#
# The model of the book, `torch_backend.NextFramePredictor`, stacks several ConvLSTM layers and
# ends with a *head* that turns the last layer's hidden state into a frame. Its architecture
# comes from a `ModelConfig`; `nfp_lib.config.PRESETS` holds the ones the book uses. We take
# **"laptop"**, the preset that trains on a CPU in minutes: three ConvLSTM layers of 32 filters
# with 3 x 3 kernels, no normalisation, 4 x 4 patches, and a *motion head* (`motion_kernel=11`)
# that moves the pixels of the last frame instead of drawing new ones. The next sections take
# these apart one by one.

# %%
config = PRESETS["laptop"].model
pprint.pprint(config, width=80)
model = torch_backend.build_model(config).eval()
print("\nthe layers that compute, and their weights' shapes:")
for name, module in model.named_modules():
    if not any(module.children()):
        shapes = [tuple(p.shape) for p in module.parameters(recurse=False)]
        print(f"  {name:<20} {type(module).__name__:<14} {shapes}")

# %% [markdown]
# ### Patches: space to depth
#
# The first thing the model does is cut every 64 x 64 frame into 4 x 4 patches and stack the 16
# pixels of each patch as channels: the frame becomes a 16 x 16 image with 16 channels
# (PyTorch's `pixel_unshuffle`, also called *space to depth*). No pixel is lost, but the ConvLSTM
# now works on a grid 16 times smaller, and a 3 x 3 kernel on it covers 12 x 12 pixels of the
# frame. That is what makes the model cheap enough for a laptop; OpenSTL's ConvLSTM does the
# same. Each of the 16 channels is the frame sampled at one position inside the patches:

# %%
# first frame of video 0
patched = F.pixel_unshuffle(frames[:1, 0], config.patch_size)
print(
    "one frame:",
    tuple(frames[:1, 0].shape),
    "-> patched:",
    tuple(patched.shape),
)

fig = plt.figure(figsize=(9, 4))
left, right = fig.subfigures(1, 2, width_ratios=[1, 1.1])
ax = left.subplots()
ax.imshow(videos[0, 0, ..., 0], cmap="gray", vmin=0, vmax=1)
ax.set_title("frame, 64 x 64 x 1")
ax.axis("off")
axes = right.subplots(4, 4)
for channel, ax in enumerate(axes.ravel()):
    ax.imshow(patched[0, channel], cmap="gray", vmin=0, vmax=1)
    ax.axis("off")
right.suptitle("its 16 channels, each 16 x 16")
plt.show()

# %% [markdown]
# ### The motion head
#
# The ConvLSTM layers end with 32 filters on the 16 x 16 grid, and a *head* has to turn them
# into the next 64 x 64 frame. The obvious head predicts pixels: a convolution outputs the 16
# pixels of every patch, a sigmoid maps them into [0, 1] and `pixel_shuffle` (the inverse of
# `pixel_unshuffle`) puts the patches back together. The library builds that head when
# `motion_kernel` is 0, and the keras-io example's model is of that kind.
#
# But in Moving MNIST the next frame is almost the current one with the digits moved by 2 to 5
# pixels. So the laptop preset predicts *motion* instead: for every 4 x 4 patch the head outputs
# K x K numbers (K = `motion_kernel` = 11), which become a K x K kernel, and the next frame is
# the **current frame** filtered with the kernel of each patch. A kernel that is 1 at one
# position and 0 elsewhere copies the pixel at that offset: it moves the patch's content by up
# to K // 2 = 5 pixels in each direction. This is a *dynamic filter* (De Brabandere et al.,
# 2016): the filter is not a learned weight but an output of the network, different for every
# patch and every frame. `torch_backend.apply_dynamic_filters(frames, kernels, patch_size)`
# applies one kernel per patch to M frames, the K*K weights of each kernel given row by row as
# channels: `kernels` has shape `(M, K*K, H/p, W/p)`.
#
# No training is needed to see what it does. We build kernels by hand: one-hot kernels that
# move every patch the same way, then a different move for each half of the frame.

# %%
# 11, 16 patches a side
K, side = config.motion_kernel, IMAGE_SIZE // config.patch_size
frame = frames[:1, 0]  # (1, 1, H, W): the first frame of video 0


def shift_kernels(down, right):
    """One-hot K x K kernels, one per patch, that move every patch down and
    right (in pixels)."""
    kernels = torch.zeros(1, K * K, side, side)
    # weight (dy, dx) reads input pixel (y + dy - K // 2, x + dx - K // 2),
    # so moving down by `down` is dy = K // 2 - down
    kernels[:, (K // 2 - down) * K + (K // 2 - right)] = 1.0
    return kernels


moved = torch_backend.apply_dynamic_filters(
    frame, shift_kernels(2, 5), config.patch_size
)
split = shift_kernels(-4, 0)  # the top half of the patches moves up 4 pixels...
# ...the bottom half down
split[..., side // 2 :, :] = shift_kernels(4, 0)[..., side // 2 :, :]
torn = torch_backend.apply_dynamic_filters(frame, split, config.patch_size)
print(
    "kernels (M, K*K, H/p, W/p):",
    tuple(split.shape),
    "-> frame",
    tuple(torn.shape),
)

fig, axes = plt.subplots(1, 3, figsize=(10, 3.4))
shown = [
    (frame, "the frame"),
    (moved, "all patches: 2 down, 5 right"),
    (torn, "top half up 4, bottom half down 4"),
]
for ax, (image, title) in zip(axes, shown, strict=True):
    ax.imshow(image[0, 0], cmap="gray", vmin=0, vmax=1)
    ax.set_title(title, fontsize=10)
    ax.axis("off")
plt.show()

# %% [markdown]
# The digits move and stay sharp, because the output is made of the frame's own pixels: the
# ConvLSTM only has to work out where each patch's content goes, not how to draw a digit. The
# move is the same for the 16 pixels of a patch, so where two neighbouring patches disagree the
# image tears along the patch edge, as in the right panel.
#
# The head does not output one-hot kernels but *logits*, K x K numbers per patch, and a softmax
# over them makes the kernel: positive weights that sum to 1. The filtered frame is then a
# weighted average of shifted copies of the current frame, so it stays in [0, 1] like a frame.
# A model that is sure of a move puts almost all the weight on one offset; one that is unsure
# spreads it, and the prediction becomes a blur of the moves it hesitates between. Equal logits
# give the widest blur, an 11 x 11 average; a kernel split between two moves gives two faint
# copies:

# %%
# all logits 0
uniform = torch.softmax(torch.zeros(1, K * K, side, side), dim=1)
# left or right?
unsure = 0.5 * shift_kernels(0, -4) + 0.5 * shift_kernels(0, 4)
print(f"equal logits: every weight is {uniform[0, 0, 0, 0]:.5f} = 1 / {K * K}")

fig, axes = plt.subplots(1, 2, figsize=(6.7, 3.4))
for ax, kernels, title in zip(
    axes,
    (uniform, unsure),
    ("equal logits: blur", "half left 4, half right 4"),
    strict=True,
):
    ax.imshow(
        torch_backend.apply_dynamic_filters(frame, kernels, config.patch_size)[
            0, 0
        ],
        cmap="gray",
        vmin=0,
        vmax=1,
    )
    ax.set_title(title, fontsize=10)
    ax.axis("off")
plt.show()

# %% [markdown]
# ### Following a batch through the model
#
# Now the whole model, step by step, calling its parts by hand: `model.layers` are the ConvLSTM
# layers, `model.norms` what comes after each (here nothing: `nn.Identity`), and `model.head` is
# a convolution applied to every frame on its own (3 x 3 in this preset), which maps the 32
# filters to K x K = 121 logits per patch. A softmax over those 121 channels makes each patch's
# kernel, and `apply_dynamic_filters` filters the **input** frames with them: the original
# 64 x 64 frames, not their patches, so output t is input frame t moved.

# %%
with torch.no_grad():
    x = frames
    print(f"{'input frames':>26}: {tuple(x.shape)}")
    x = F.pixel_unshuffle(x, config.patch_size)
    print(f"{'4 x 4 patches':>26}: {tuple(x.shape)}")
    for i, convlstm in enumerate(model.layers):
        x, _ = convlstm(x)
        if i < len(model.norms):  # BatchNorm3d wants (N, F, T, H, W)
            x = model.norms[i](x.transpose(1, 2)).transpose(1, 2)
        print(f"{f'ConvLSTM layer {i}':>26}: {tuple(x.shape)}")
    # every frame on its own: (N * T, K * K, H/p, W/p)
    logits = model.head(x.flatten(0, 1))
    per_frame = tuple(logits.unflatten(0, x.shape[:2]).shape)
    print(f"{'head logits (per frame)':>26}: {per_frame}")
    # one K x K kernel per patch, summing to 1
    kernels = torch.softmax(logits, dim=1)
    y = torch_backend.apply_dynamic_filters(
        frames.flatten(0, 1), kernels, config.patch_size
    )
    y = y.unflatten(0, frames.shape[:2])
    print(f"{'input frames, filtered':>26}: {tuple(y.shape)}")
    print("same as model(frames):", torch.equal(y, model(frames)))

# %% [markdown]
# The output has the shape of the input, and output frame t is the model's guess for input
# frame t + 1. Training therefore pairs the video without its last frame (the input) with the
# video without its first frame (the target), as in the Moving MNIST chapter.

# %% [markdown]
# ### How big is it?
#
# A ConvLSTM layer with C input channels, F filters and a k x k kernel has one fused convolution
# from C + F to 4F channels: $4F\,(C+F)\,k^2$ weights and $4F$ biases. The cost of one frame is
# that many multiply-adds again for every position of the grid it runs on. The head is one more
# convolution, to `motion_kernel`² logits per grid position for a motion head (to C·p² pixels
# for a pixel head), and the dynamic filter adds K x K multiply-adds for every output pixel.
# `bench.model_macs` counts it all for every preset, on 64 x 64 frames. "keras-io" is the model of
# the keras-io example this book started from (it has 64 filters and works on the full 64 x 64
# frame, so no patches, and predicts pixels).


# %%
def num_parameters(config):
    """Weights and biases of the PyTorch model of a ModelConfig."""
    return sum(
        p.numel() for p in torch_backend.build_model(config).parameters()
    )


models = {}  # one row per model: fine-tuning presets reuse an earlier one's
for name, preset in PRESETS.items():  # (mirror_average adds no weights)
    models.setdefault(replace(preset.model, mirror_average=False), name)
same = [
    n
    for n, p in PRESETS.items()
    if models[replace(p.model, mirror_average=False)] != n
]
header = f"{'preset':12} {'filters':>20} {'kernels':>12} {'patch':>5}"
print(f"{header} {'head':>22}")
for m, name in models.items():
    k = m.motion_kernel
    head = f"motion {k}x{k}" if k else "pixels"
    if m.motion_masks:
        head = f"{m.motion_masks} x {head} + mask"
    layers = f"{str(m.filters):>20} {str(m.kernel_sizes):>12}"
    print(f"{name:12} {layers} {m.patch_size:5} {head:>22}")

header = f"{'preset':12} {'grid':>8} {'parameters':>11}"
print(f"\n{header} {'multiply-adds/frame':>20}")
for m, name in models.items():
    side = IMAGE_SIZE // m.patch_size
    grid = f"{side} x {side}"
    macs = bench.model_macs(m) / 1e6
    print(f"{name:12} {grid:>8} {num_parameters(m):11,} {macs:18,.0f} M")
print("\nthe same model as an earlier preset (they fine-tune it):")
print(textwrap.fill(", ".join(same), 80, break_on_hyphens=False))
keras_io = PRESETS["keras-io"].model
weights = num_parameters(keras_io) / num_parameters(config)
ratio = bench.model_macs(keras_io) / bench.model_macs(config)
print(f"the keras-io model has {weights:.1f} times the laptop model's weights")
print(f"and does {ratio:.0f} times its arithmetic per frame")

# %% [markdown]
# The formula for the laptop model's first layer (16 channels in, 32 filters, 3 x 3):

# %%
first = model.layers[0].cell.conv
print("4F(C+F)k^2 + 4F =", 4 * 32 * (16 + 32) * 3 * 3 + 4 * 32)
print("counted:        ", sum(p.numel() for p in first.parameters()))

# %% [markdown]
# The arithmetic gap is far wider than the gap in weights: the patches shrink the grid
# sixteen-fold, and every weight of a convolution is used once per grid position. The dynamic
# filter itself is cheap, with no weights at all and 121 multiply-adds per pixel.

# %% [markdown]
# ## Causality: no peeking at the future
#
# A next-frame predictor is only useful if its output at step t, the guess for the frame after
# input t, is computed from inputs 0..t and nothing later (steps count from 0 here, as in the
# code). Otherwise the model can copy the answer during training and
# has nothing to copy from when it meets a real future. A ConvLSTM is causal by construction,
# since the state at t is built from the inputs up to t, and a head that looks at each frame
# on its own keeps it that way. The motion head also reads input frame t itself, the frame it
# moves, which output t is allowed to see.
#
# We can *measure* this. Take a video, replace every input frame after frame t by noise, and
# compare the model's outputs with and without the change. Outputs 0..t must be bit-for-bit
# identical; the later ones should change.

# %%
t = NUM_FRAMES // 2
tampered = frames.clone()
tampered[:, t + 1 :] = torch.rand_like(tampered[:, t + 1 :])
with torch.no_grad():
    change = (model(tampered) - model(frames)).abs().amax(dim=(0, 2, 3, 4))
print(f"input frames {t + 1}.. replaced (counting from 0)")
print("largest change of outputs 0..t:  ", change[: t + 1].max().item())
print("smallest change of outputs t+1..:", change[t + 1 :].min().item())

fig, ax = plt.subplots(figsize=(7, 2.8))
colors = ["tab:blue" if s <= t else "tab:orange" for s in range(NUM_FRAMES)]
ax.bar(range(NUM_FRAMES), change.numpy(), color=colors)
ax.axvline(t + 0.5, color="gray", linestyle="--")
ax.text(
    t / 2, change.max().item() / 2, "exactly 0", ha="center", color="tab:blue"
)
ax.set(
    xlabel="output step (the guess for the next frame)",
    ylabel="max |change|",
    xticks=range(0, NUM_FRAMES, 2),
    title=f"outputs after replacing input frames {t + 1}.. (counting from 0)",
)
plt.show()

# %% [markdown]
# Exactly zero up to step t, and non-zero after it. (The changes after t are large even though
# the model is untrained: the motion head filters each input frame, so every output from t + 1
# on is a blurred copy of the noise; we will see that blur below.) The keras-io example's model
# fails this test, because its head is a 3-D convolution that also looks one frame ahead; the
# next chapter, [A ConvLSTM in Keras](03_convlstm_keras.ipynb), measures that leak.

# %% [markdown]
# ## One frame at a time
#
# `model(frames)` runs the whole video at once. `model.step(frame, state)` does one time step:
# it takes a single frame `(N, C, H, W)` and the state of every layer (`None` at the start) and
# returns the guess for the next frame and the new state. Stepping through the video gives what
# `forward` gave, up to float32 rounding (the convolutions may be computed in a different order
# for one frame than for a whole video):

# %%
state, outputs = None, []
with torch.no_grad():
    for s in range(NUM_FRAMES):
        guess, state = model.step(frames[:, s], state)
        outputs.append(guess)
    stepped = torch.stack(outputs, dim=1)
    print(
        "max |step by step - forward|:",
        (stepped - model(frames)).abs().max().item(),
    )

# %% [markdown]
# This is what makes long predictions cheap. To predict beyond the frames it was given, the model
# feeds its own guess back in as the next input: a *rollout*. With `step` the state is carried
# along, so each new frame costs one step. A model that cannot be stepped has to re-run the whole
# growing video for each new frame instead, as the keras-io example does. The library has both:
# `torch_backend.rollout` (stepping) and `torch_backend.rollout_rerun` (re-running). For a causal
# model they must agree; the difference is the work done.

# %%
context, horizon = videos[:, :CONTEXT], NUM_FRAMES - CONTEXT
start = time.perf_counter()
carried = torch_backend.rollout(model, context, horizon)
carried_s = time.perf_counter() - start
start = time.perf_counter()
rerun = torch_backend.rollout_rerun(model, context, horizon)
rerun_s = time.perf_counter() - start
print("rollout shape (N, horizon, H, W, C):", carried.shape)
print("max |stepping - re-running|:", np.abs(carried - rerun).max())
steps_carried = CONTEXT + horizon - 1
steps_rerun = sum(CONTEXT + k for k in range(horizon))
print(f"stepping:   {steps_carried:4d} frame steps, {carried_s:.2f} s")
print(f"re-running: {steps_rerun:4d} frame steps, {rerun_s:.2f} s")

# %% [markdown]
# The gap grows with the square of the horizon. The chapter [Rollout and
# evaluation](05_rollout_evaluation.ipynb) comes back to rollouts and uses them to measure how good
# the predictions are.

# %% [markdown]
# ## The untrained model
#
# Finally, what does the model predict right now? `torch_backend.predict_next` runs it on whole
# videos (numpy in, numpy out, in eval mode, without gradients) and returns the guess for every
# frame after the first, each made from the true frames before it. `viz.plot_comparison` draws
# the truth, the prediction and their difference (given the first frame as `context`, it shows it
# in a row "seen" and numbers the predicted frames from 2).

# %%
guesses = torch_backend.predict_next(model, videos[:1])
print("predictions:", guesses.shape)
print(f"pixel values: mean {guesses.mean():.3f}, std {guesses.std():.4f}")
truth = videos[:1, 1:]
untrained_mse = np.mean((guesses - truth) ** 2)
copy_mse = np.mean((videos[:1, :-1] - truth) ** 2)
blank_mse = np.mean(truth**2)
print("next-frame MSE, this model:  ", f"{untrained_mse:.4f}")
print("  copying the frame before:  ", f"{copy_mse:.4f}")
print("  a blank frame:             ", f"{blank_mse:.4f}")
viz.plot_comparison(
    videos[0, 1:],
    guesses[0],
    context=videos[0, :1],
    max_frames=8,
    title="untrained model",
)

# %% [markdown]
# A blurred copy of the frame before: with random weights the head's logits are all close to 0,
# so the softmax makes every kernel nearly uniform, and the motion head averages each pixel's
# 11 x 11 neighbourhood, the blur of the demo above. (A pixel head would output a flat gray
# instead: its sigmoid turns 0 into 0.5 everywhere.) Training has to sharpen these kernels and
# point each one the way its patch moves. The structure is in place, the weights are not.

# %% tags=["hide-input"]
beaten = sum(untrained_mse < b for b in (copy_mse, blank_mse))
verdict = {2: "beats both", 1: "beats one of the", 0: "comes close to the"}
display(
    Markdown(
        "Look at the MSE: this model has learned nothing, yet it "
        + verdict[beaten]
        + " baselines. A blur is never far wrong anywhere, so MSE alone"
        " flatters blurry predictions; that is why this book also reports"
        " SSIM, which rewards sharp structure ([Rollout and"
        " evaluation](05_rollout_evaluation.ipynb))."
    )
)

# %% [markdown]
# ## Summary
#
# - A ConvLSTM cell is an LSTM whose matrix products are convolutions: one convolution over the
#   input and the previous output gives all four gates, and the state is a stack of images.
# - The predictor cuts frames into patches, runs stacked ConvLSTM layers and a per-frame head.
#   It is causal, so it can be stepped one frame at a time, carrying its state.
# - The head either draws the next frame's pixels or moves the current frame's pixels with a
#   small kernel per patch (the motion head).
#
# ## Exercises
#
# 1. Compare `bench.model_macs` for the `laptop` model with `patch_size` 1, 2 and 4. Why does
#    the cost fall by almost the square of the patch size?
# 2. Build a model with `head="conv3d"` and run the causality test on it: which predictions
#    change when you change a later frame?
# 3. Time `model.step` over a 20-frame sequence against `model(x)` on the whole sequence. Both
#    give the same outputs: which is faster, and why might the answer change on a GPU?
#
# ## What's next
#
# [A ConvLSTM in Keras](03_convlstm_keras.ipynb) builds the same network from Keras 3's
# `ConvLSTM2D` layers, shows that weights move between the two frameworks with predictions that
# agree to float32 rounding, and measures the leak in the keras-io example's head. After it,
# [Training](04_training.ipynb) teaches the model to predict.
