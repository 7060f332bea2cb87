#!/usr/bin/env python3
"""Writes tests/fixtures/onnx/: a tiny pytorch/examples fast_neural_style TransformerNet
exported as its `neural_style eval --export_onnx` does, and the weights it holds.

Not run by CI (it needs torch); run by hand in a throwaway venv:
  python3 -m venv /tmp/torch && /tmp/torch/bin/pip install torch onnx onnxscript safetensors
  /tmp/torch/bin/python scripts/make-onnx-fixture.py

The network is pytorch/examples' (module and parameter names, layer order, forward) with
narrower channels and fewer residual blocks, so the files stay small; weights are random,
instance-norm affine parameters perturbed from 1/0 so a mix-up shows.
Outputs:
  tiny.onnx               torch.onnx export, opset 11, fixed 1x3x32x48 input (as the example)
  tiny.weights.safetensors  the state dict (pytorch/examples names), float32
  tiny.io.safetensors       `input` and torch's `output` for it
"""
import os
import sys

import torch
from safetensors.torch import save_file

CHANNELS = (8, 16, 16)
RESIDUAL_BLOCKS = 2
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "onnx")


class ConvLayer(torch.nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride):
        super().__init__()
        self.reflection_pad = torch.nn.ReflectionPad2d(kernel_size // 2)
        self.conv2d = torch.nn.Conv2d(in_channels, out_channels, kernel_size, stride)

    def forward(self, x):
        return self.conv2d(self.reflection_pad(x))


class ResidualBlock(torch.nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv1 = ConvLayer(channels, channels, kernel_size=3, stride=1)
        self.in1 = torch.nn.InstanceNorm2d(channels, affine=True)
        self.conv2 = ConvLayer(channels, channels, kernel_size=3, stride=1)
        self.in2 = torch.nn.InstanceNorm2d(channels, affine=True)
        self.relu = torch.nn.ReLU()

    def forward(self, x):
        residual = x
        out = self.relu(self.in1(self.conv1(x)))
        out = self.in2(self.conv2(out))
        return out + residual


class UpsampleConvLayer(torch.nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride, upsample=None):
        super().__init__()
        self.upsample = upsample
        self.reflection_pad = torch.nn.ReflectionPad2d(kernel_size // 2)
        self.conv2d = torch.nn.Conv2d(in_channels, out_channels, kernel_size, stride)

    def forward(self, x):
        x_in = x
        if self.upsample:
            x_in = torch.nn.functional.interpolate(x_in, mode="nearest", scale_factor=self.upsample)
        return self.conv2d(self.reflection_pad(x_in))


class TransformerNet(torch.nn.Module):
    def __init__(self, c=CHANNELS, blocks=RESIDUAL_BLOCKS):
        super().__init__()
        c1, c2, c3 = c
        self.conv1 = ConvLayer(3, c1, kernel_size=9, stride=1)
        self.in1 = torch.nn.InstanceNorm2d(c1, affine=True)
        self.conv2 = ConvLayer(c1, c2, kernel_size=3, stride=2)
        self.in2 = torch.nn.InstanceNorm2d(c2, affine=True)
        self.conv3 = ConvLayer(c2, c3, kernel_size=3, stride=2)
        self.in3 = torch.nn.InstanceNorm2d(c3, affine=True)
        for i in range(1, blocks + 1):
            setattr(self, f"res{i}", ResidualBlock(c3))
        self.blocks = blocks
        self.deconv1 = UpsampleConvLayer(c3, c2, kernel_size=3, stride=1, upsample=2)
        self.in4 = torch.nn.InstanceNorm2d(c2, affine=True)
        self.deconv2 = UpsampleConvLayer(c2, c1, kernel_size=3, stride=1, upsample=2)
        self.in5 = torch.nn.InstanceNorm2d(c1, affine=True)
        self.deconv3 = ConvLayer(c1, 3, kernel_size=9, stride=1)
        self.relu = torch.nn.ReLU()

    def forward(self, X):
        y = self.relu(self.in1(self.conv1(X)))
        y = self.relu(self.in2(self.conv2(y)))
        y = self.relu(self.in3(self.conv3(y)))
        for i in range(1, self.blocks + 1):
            y = getattr(self, f"res{i}")(y)
        y = self.relu(self.in4(self.deconv1(y)))
        y = self.relu(self.in5(self.deconv2(y)))
        return self.deconv3(y)


def main():
    torch.manual_seed(20)
    model = TransformerNet()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".in" in "." + name:
                # InstanceNorm affine: around 1 (weight) and 0 (bias), not exactly.
                p.copy_((1.0 if name.endswith("weight") else 0.0) + 0.2 * torch.randn_like(p))
    model.eval()
    x = torch.rand(1, 3, 32, 48) * 255
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, "tiny.onnx")
    with torch.no_grad():
        y = model(x)
        # What neural_style.py does: torch.onnx._export(style_model, content_image, path,
        # opset_version=11); the TorchScript exporter (dynamo=False) is its successor.
        torch.onnx.export(model, x, path, opset_version=11, dynamo=False)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, os.path.join(OUT, "tiny.weights.safetensors"))
    save_file({"input": x.contiguous(), "output": y.contiguous()}, os.path.join(OUT, "tiny.io.safetensors"))
    print(f"torch {torch.__version__}: wrote {path} ({os.path.getsize(path)} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
