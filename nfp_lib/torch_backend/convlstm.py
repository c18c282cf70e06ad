"""The convolutional LSTM cell and layer (Shi et al., 2015), in plain PyTorch.

Tensors are PyTorch's ``(N, C, H, W)`` per frame and batch-first ``(N, T, C, H, W)`` per
sequence. The weights line up with Keras' ``ConvLSTM2D`` so they port one to one: Keras keeps an
input kernel and a recurrent kernel, here both sit in one convolution over ``cat([x, h])``
(input channels first), and the four gates come in Keras' order i, f, c, o.
"""

from __future__ import annotations

import torch
from torch import nn

ACTIVATIONS = {"tanh": torch.tanh, "relu": torch.relu}

State = tuple[torch.Tensor, torch.Tensor]


class ConvLSTMCell(nn.Module):
    """One step of a convolutional LSTM.

    With ``*`` a 2-D convolution with ``same`` padding, ``[x, h]`` channel concatenation,
    ``σ`` the sigmoid and ``act`` the activation (tanh as in the paper, or relu)::

        i = σ(W_i * [x_t, h_{t-1}] + b_i)        input gate
        f = σ(W_f * [x_t, h_{t-1}] + b_f)        forget gate
        g = act(W_c * [x_t, h_{t-1}] + b_c)      candidate cell
        o = σ(W_o * [x_t, h_{t-1}] + b_o)        output gate
        c_t = f ⊙ c_{t-1} + i ⊙ g
        h_t = o ⊙ act(c_t)

    The four convolutions are one ``nn.Conv2d(in_channels + filters, 4 * filters)``, whose
    output channels are the gates in the order i, f, c, o. Weights start as Keras starts them:
    Glorot-uniform for the input part and orthogonal for the recurrent part (which keeps the
    state's scale from step to step). Biases start at 0 except the forget gate's, which starts
    at 1 (Keras' ``unit_forget_bias``) so the cell remembers by default. The state starts at
    zeros.
    """

    def __init__(
        self, in_channels: int, filters: int, kernel_size: int, activation: str = "tanh"
    ) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"activation: expected one of {tuple(ACTIVATIONS)}, got {activation!r}"
            )
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size: expected an odd integer >= 1, got {kernel_size}")
        self.in_channels = in_channels
        self.filters = filters
        self.activation = activation
        self.act = ACTIVATIONS[activation]
        self.conv = nn.Conv2d(
            in_channels + filters, 4 * filters, kernel_size, padding=kernel_size // 2
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Keras' ``ConvLSTM2D`` initialisation (see the class docstring)."""
        weight, f = self.conv.weight, self.filters
        k = weight.shape[-1]
        with torch.no_grad():
            nn.init.xavier_uniform_(weight[:, : self.in_channels])
            # Keras makes the (k, k, filters, 4 * filters) recurrent kernel orthogonal as a
            # (k * k * filters, 4 * filters) matrix; ours is its transpose, laid out (4F, F, k, k).
            recurrent = nn.init.orthogonal_(torch.empty(k * k * f, 4 * f))
            weight[:, self.in_channels :] = recurrent.reshape(k, k, f, 4 * f).permute(3, 2, 0, 1)
            self.conv.bias.zero_()
            self.conv.bias[f : 2 * f] = 1.0

    def forward(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """One frame ``x`` ``(N, C, H, W)`` -> ``(h, (h, c))``, each ``(N, filters, H, W)``."""
        if state is None:
            n, _, height, width = x.shape
            zeros = x.new_zeros((n, self.filters, height, width))
            state = (zeros, zeros)
        h, c = state
        i, f, g, o = torch.chunk(self.conv(torch.cat([x, h], dim=1)), 4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * self.act(g)
        h = torch.sigmoid(o) * self.act(c)
        return h, (h, c)


class ConvLSTM(nn.Module):
    """A :class:`ConvLSTMCell` run over a batch-first sequence, returning every output."""

    def __init__(
        self, in_channels: int, filters: int, kernel_size: int, activation: str = "tanh"
    ) -> None:
        super().__init__()
        self.cell = ConvLSTMCell(in_channels, filters, kernel_size, activation)

    def forward(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """``x`` ``(N, T, C, H, W)`` -> every ``h`` ``(N, T, filters, H, W)`` and the last state."""
        outputs = []
        # unbind, not x[:, t]: its gradient is one stack, where every x[:, t] would add a
        # zero-filled copy of the whole sequence in the backward pass (O(T^2) memory traffic).
        for frame in x.unbind(1):
            h, state = self.cell(frame, state)
            outputs.append(h)
        return torch.stack(outputs, dim=1), state
