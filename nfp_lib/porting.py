"""Copy weights between the Keras and the PyTorch model of one :class:`ModelConfig`.

The two backends build the same network, so every weight has a partner:

======================================  ==============================================
Keras                                   PyTorch
======================================  ==============================================
``convlstm_i`` kernel ``(k,k,in,4F)``   ``layers[i].cell.conv.weight[:, :in]`` ``(4F,in,k,k)``
``convlstm_i`` recurrent_kernel         ``layers[i].cell.conv.weight[:, in:]`` ``(4F,F,k,k)``
``convlstm_i`` bias ``(4F,)``           ``layers[i].cell.conv.bias``
``norm_i`` gamma, beta                  ``norms[i].weight``, ``.bias``
``norm_i`` moving_mean, moving_variance ``norms[i].running_mean``, ``.running_var``
``head`` ``(1,k,k,in,out)``             ``head`` Conv2d ``(out,in,k,k)``
``head`` ``(3,3,3,in,out)``             ``head`` Conv3d ``(out,in,3,3,3)``
======================================  ==============================================

Gates are in the same order (i, f, c, o) on both sides. Both backends are imported only when
a function is called.
"""

from __future__ import annotations

import numpy as np


def keras_to_torch(keras_model, torch_model):
    """Copy every weight of ``keras_model`` into ``torch_model`` (in place); returns it."""
    import torch

    links = _links(keras_model, torch_model)
    values = []
    for name, kind, keras_vars, tensor in links:  # check everything before changing anything
        value = _to_torch(kind, [np.asarray(v.numpy(), np.float32) for v in keras_vars])
        _check_shape(name, tuple(tensor.shape), value.shape)
        values.append(value)
    with torch.no_grad():
        for (_, _, _, tensor), value in zip(links, values, strict=True):
            tensor.copy_(torch.from_numpy(np.ascontiguousarray(value)))
    return torch_model


def torch_to_keras(torch_model, keras_model):
    """Copy every weight of ``torch_model`` into ``keras_model`` (in place); returns it."""
    links = _links(keras_model, torch_model)
    updates = []
    for name, kind, keras_vars, tensor in links:  # check everything before changing anything
        split = keras_vars[0].shape[-2] if kind == "convlstm" else None
        values = _to_keras(kind, tensor.detach().cpu().float().numpy(), split)
        for var, value in zip(keras_vars, values, strict=True):
            _check_shape(name, tuple(var.shape), value.shape)
            updates.append((var, value))
    for var, value in updates:
        var.assign(np.ascontiguousarray(value))
    return keras_model


def _links(keras_model, torch_model) -> list[tuple]:
    """``(name, kind, keras variables, torch tensor)`` for every weight of the two models."""
    from nfp_lib.keras_backend.model import canonical
    from nfp_lib.keras_backend.model import model_config as keras_config
    from nfp_lib.torch_backend.model import model_config as torch_config

    k_config, t_config = keras_config(keras_model), canonical(torch_config(torch_model))
    if len(k_config.filters) != len(t_config.filters):
        raise ValueError(
            f"ConvLSTM layers: expected {len(t_config.filters)} (PyTorch), "
            f"got {len(k_config.filters)} (Keras)"
        )
    fields = (
        "activation",
        "norm",
        "head",
        "patch_size",
        "channels",
        "motion_kernel",
        "motion_masks",
    )
    for field in fields:
        if getattr(k_config, field) != getattr(t_config, field):
            raise ValueError(
                f"{field}: the Keras model has {getattr(k_config, field)!r}, "
                f"the PyTorch model {getattr(t_config, field)!r}"
            )
    links = []
    for i, layer in enumerate(torch_model.layers):
        cell, conv = keras_model.get_layer(f"convlstm_{i}").cell, layer.cell.conv
        links.append(
            (f"convlstm_{i} kernel", "convlstm", [cell.kernel, cell.recurrent_kernel], conv.weight)
        )
        links.append((f"convlstm_{i} bias", "same", [cell.bias], conv.bias))
    if k_config.norm == "batch":
        for i, norm in enumerate(torch_model.norms):
            bn = keras_model.get_layer(f"norm_{i}")
            links.append((f"norm_{i} gamma", "same", [bn.gamma], norm.weight))
            links.append((f"norm_{i} beta", "same", [bn.beta], norm.bias))
            links.append((f"norm_{i} moving_mean", "same", [bn.moving_mean], norm.running_mean))
            links.append(
                (f"norm_{i} moving_variance", "same", [bn.moving_variance], norm.running_var)
            )
    head = keras_model.get_layer("head")
    links.append(("head kernel", f"head_{k_config.head}", [head.kernel], torch_model.head.weight))
    links.append(("head bias", "same", [head.bias], torch_model.head.bias))
    return links


def _to_torch(kind: str, values: list[np.ndarray]) -> np.ndarray:
    """Keras variable values -> the PyTorch tensor's value."""
    if kind == "convlstm":  # (k, k, in, 4F) and (k, k, F, 4F) -> (4F, in + F, k, k)
        return np.concatenate([w.transpose(3, 2, 0, 1) for w in values], axis=1)
    if kind == "head_conv2d":  # (1, k, k, in, out) -> (out, in, k, k)
        return values[0][0].transpose(3, 2, 0, 1)
    if kind == "head_conv3d":  # (t, h, w, in, out) -> (out, in, t, h, w)
        return values[0].transpose(4, 3, 0, 1, 2)
    return values[0]


def _to_keras(kind: str, value: np.ndarray, split: int | None) -> list[np.ndarray]:
    """The PyTorch tensor's value -> Keras variable values (inverse of :func:`_to_torch`)."""
    if kind == "convlstm":  # split the fused input channels at the Keras kernel's input depth
        return [value[:, :split].transpose(2, 3, 1, 0), value[:, split:].transpose(2, 3, 1, 0)]
    if kind == "head_conv2d":
        return [value.transpose(2, 3, 1, 0)[None]]
    if kind == "head_conv3d":
        return [value.transpose(2, 3, 4, 1, 0)]
    return [value]


def _check_shape(name: str, expected: tuple, got: tuple) -> None:
    if tuple(expected) != tuple(got):
        raise ValueError(f"{name}: expected shape {tuple(expected)}, got {tuple(got)}")
