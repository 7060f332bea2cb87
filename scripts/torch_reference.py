#!/usr/bin/env python3
"""PyTorch eager reference timings for the same network, VGG-16 and losses.

The network is pytorch/examples fast_neural_style's TransformerNet (reflection pad,
instance norm, 5 residual blocks, nearest upsample), the loss network VGG-16 to relu4_3
from the same torchvision-layout weights we use. Prints one JSON object per line:
inference ms at several sizes (f32, f16) and the training step ms at batch 4, 256x256.

    python3 scripts/torch_reference.py --vgg vgg16-features.safetensors [--device cuda]
"""
import argparse, json, time
import torch
import torch.nn as nn
import torch.nn.functional as F


from torch_net import TransformerNet  # noqa: E402  (scripts/ is on sys.path: this file lives there)


class Vgg16(nn.Module):
    IDX = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21]
    CH = [(3, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 256), (256, 512), (512, 512), (512, 512)]

    def __init__(s, path):
        super().__init__()
        from safetensors.torch import load_file
        w = load_file(path)
        s.convs = nn.ModuleList()
        for i, (a, b) in zip(s.IDX, s.CH):
            c = nn.Conv2d(a, b, 3, padding=1)
            c.weight.data.copy_(w[f"features.{i}.weight"]); c.bias.data.copy_(w[f"features.{i}.bias"])
            s.convs.append(c)
        for p in s.parameters():
            p.requires_grad_(False)
        s.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1) * 255)
        s.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1) * 255)

    def forward(s, x):
        h = (x - s.mean) / s.std
        out, blocks, k = [], [2, 2, 3, 3], 0
        for b, n in enumerate(blocks):
            if b:
                h = F.max_pool2d(h, 2)
            for _ in range(n):
                h = F.relu(s.convs[k](h)); k += 1
            out.append(h)
        return out


def gram(f):
    n, c, h, w = f.shape
    f = f.view(n, c, h * w)
    return f.bmm(f.transpose(1, 2)) / (c * h * w)


def timeit(fn, reps, warm, sync):
    for _ in range(warm):
        fn()
    sync()
    ts = []
    for _ in range(reps):
        t = time.perf_counter(); fn(); sync(); ts.append((time.perf_counter() - t) * 1e3)
    ts.sort()
    return ts[len(ts) // 2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vgg", required=True)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--sizes", default="256x256,640x480,1280x720,1024x1024")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--train-steps", type=int, default=30)
    ap.add_argument("--train-shapes", default="4x256",
                    help="training steps to time, BATCHxSIZE, comma-separated (e.g. 2x128,4x256)")
    a = ap.parse_args()
    dev = torch.device(a.device)
    torch.backends.cudnn.benchmark = True
    sync = (lambda: torch.cuda.synchronize()) if dev.type == "cuda" else (lambda: None)
    net = TransformerNet().to(dev).eval()
    info = {"torch": torch.__version__, "device": torch.cuda.get_device_name() if dev.type == "cuda" else "cpu",
            "threads": torch.get_num_threads()}
    print(json.dumps({"info": info}), flush=True)
    for size in filter(None, a.sizes.split(",")):
        w, h = map(int, size.split("x"))
        for dt in (torch.float32, torch.float16):
            if dt == torch.float16 and dev.type != "cuda":
                continue
            m = net.to(dt)
            x = torch.rand(1, 3, h, w, device=dev, dtype=dt) * 255
            with torch.no_grad():
                ms = timeit(lambda: m(x), a.reps, 3, sync)
            print(json.dumps({"inference": size, "dtype": str(dt).split(".")[-1], "ms": round(ms, 2)}), flush=True)
    for shape in filter(None, a.train_shapes.split(",")):
        batch, side = map(int, shape.split("x"))
        ms = time_train_step(a.vgg, dev, sync, batch, side, a.train_steps)
        print(json.dumps({"train_step": f"batch {batch}, {side}x{side}", "ms": round(ms, 2)}), flush=True)


def time_train_step(vgg_path, dev, sync, batch, side, steps):
    net = TransformerNet().to(dev).float().train()
    vgg = Vgg16(vgg_path).to(dev)
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    x = torch.rand(batch, 3, side, side, device=dev) * 255
    style = torch.rand(1, 3, side, side, device=dev) * 255
    with torch.no_grad():
        gs = [gram(f) for f in vgg(style)]

    def step():
        opt.zero_grad()
        y = net(x)
        fy, fx = vgg(y), vgg(x)
        c = F.mse_loss(fy[2], fx[2])
        s = sum(F.mse_loss(gram(f), g.expand(batch, -1, -1)) for f, g in zip(fy, gs))
        tv = ((y[..., 1:] - y[..., :-1]) ** 2).mean() + ((y[..., 1:, :] - y[..., :-1, :]) ** 2).mean()
        (1e5 * c + 1e10 * s + 1e-2 * tv).backward()
        opt.step()

    return timeit(step, steps, min(5, steps), sync)


if __name__ == "__main__":
    main()
