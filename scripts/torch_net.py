"""pytorch/examples fast_neural_style's TransformerNet in PyTorch, its widths and depth from our
NetConfig, with pytorch/examples' parameter names (res1..resN), so our model files load into it.

Imported by scripts/bench-cpu-peers.py and scripts/torch_reference.py.
"""
import json

import torch.nn as nn
import torch.nn.functional as F


class ConvLayer(nn.Module):
    """Reflection pad + conv, optionally after a nearest x2 upsample (pytorch/examples)."""

    def __init__(s, i, o, k, stride, upsample=False):
        super().__init__()
        s.upsample = upsample
        s.reflection_pad = nn.ReflectionPad2d(k // 2)
        s.conv2d = nn.Conv2d(i, o, k, stride)

    def forward(s, x):
        if s.upsample:
            x = F.interpolate(x, mode="nearest", scale_factor=2)
        return s.conv2d(s.reflection_pad(x))


class ResidualBlock(nn.Module):
    def __init__(s, c):
        super().__init__()
        s.conv1, s.in1 = ConvLayer(c, c, 3, 1), nn.InstanceNorm2d(c, affine=True)
        s.conv2, s.in2 = ConvLayer(c, c, 3, 1), nn.InstanceNorm2d(c, affine=True)

    def forward(s, x):
        return s.in2(s.conv2(F.relu(s.in1(s.conv1(x))))) + x


class TransformerNet(nn.Module):
    """pytorch/examples fast_neural_style's network, its widths and depth from our NetConfig."""

    def __init__(s, channels=(32, 64, 128), blocks=5):
        super().__init__()
        c1, c2, c3 = channels
        s.blocks = blocks
        s.conv1, s.in1 = ConvLayer(3, c1, 9, 1), nn.InstanceNorm2d(c1, affine=True)
        s.conv2, s.in2 = ConvLayer(c1, c2, 3, 2), nn.InstanceNorm2d(c2, affine=True)
        s.conv3, s.in3 = ConvLayer(c2, c3, 3, 2), nn.InstanceNorm2d(c3, affine=True)
        for i in range(1, blocks + 1):
            setattr(s, f"res{i}", ResidualBlock(c3))
        s.deconv1, s.in4 = ConvLayer(c3, c2, 3, 1, True), nn.InstanceNorm2d(c2, affine=True)
        s.deconv2, s.in5 = ConvLayer(c2, c1, 3, 1, True), nn.InstanceNorm2d(c1, affine=True)
        s.deconv3 = ConvLayer(c1, 3, 9, 1)

    def forward(s, x):
        y = F.relu(s.in1(s.conv1(x)))
        y = F.relu(s.in2(s.conv2(y)))
        y = F.relu(s.in3(s.conv3(y)))
        for i in range(1, s.blocks + 1):
            y = getattr(s, f"res{i}")(y)
        y = F.relu(s.in4(s.deconv1(y)))
        y = F.relu(s.in5(s.deconv2(y)))
        return s.deconv3(y)


def load_net(path):
    from safetensors import safe_open

    with safe_open(path, framework="pt") as f:
        meta = f.metadata() or {}
        state = {k: f.get_tensor(k).float() for k in f.keys()}
    cfg = json.loads(meta.get("config", '{"channels":[32,64,128],"residual_blocks":5}'))
    net = TransformerNet(tuple(cfg["channels"]), cfg["residual_blocks"])
    net.load_state_dict(state)
    return net.eval(), cfg
