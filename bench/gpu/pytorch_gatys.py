#!/usr/bin/env python3
"""PyTorch doing the Gramian engine's Gatys step, for the ratio in the GPU benchmark (bench/gpu/README.md).

Same network, weights, images, losses and optimiser as the engine's default run (src/engine/gatys/):
- VGG19 conv1_1..conv5_1 from the same uint8 TF.js weights files, read with numpy (kernels stored [W,H,in,out],
  w = q * scale + min), input RGB minus the ImageNet mean, 0..255 scale; conv 3x3 'same' + bias + ReLU, 2x2/2 max pool;
- losses as jcjohnson/neural-style: content 5 x mean squared difference at relu4_2; style 100 x sum over
  relu1_1..relu5_1 of the mean squared difference of Gram matrices divided by C*H*W; total variation 100 x (mean of
  squared horizontal + mean of squared vertical neighbour differences);
- L-BFGS without line search (torch.optim.LBFGS: lr 1, history 20, one evaluation per step), starting from the content;
  the input gradient only (the weights need none).
The images are the bundle's 512^2 PPMs resized with the same integer arithmetic as the engine's stand-in decoder
(bench/gpu/sharp-shim.ts), so the losses of the first steps of both can be compared (they agree to ~1e-5 on CPU).

    python3 pytorch_gatys.py --data DIR --json OUT.json [--sizes 256,512,1024] [--device cuda|cpu]
            [--precision fp32,tf32] [--warmup 20] [--steps 10] [--budget-s 100] [--threads N]

ms per step: median of the timed steps after the warm-up steps (which also fill L-BFGS's history), each timed from
before optimizer.step to after torch.cuda.synchronize(). Precision 'fp32' turns TF32 off (the engine computes in
float32); 'tf32' is PyTorch's default (TF32 convolutions through cuDNN). cudnn.benchmark is on.
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

CONV_LAYERS = [
    "conv1_1", "conv1_2",
    "conv2_1", "conv2_2",
    "conv3_1", "conv3_2", "conv3_3", "conv3_4",
    "conv4_1", "conv4_2", "conv4_3", "conv4_4",
    "conv5_1", "conv5_2", "conv5_3", "conv5_4",
]
VGG_MEAN_RGB = [123.68, 116.779, 103.939]
CONTENT_LAYERS = ["relu4_2"]
STYLE_LAYERS = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
CONTENT_WEIGHT, STYLE_WEIGHT, TV_WEIGHT = 5.0, 100.0, 100.0
LBFGS_HISTORY = 20


def env_list(name, fallback):
    text = os.environ.get(name)
    return text if text else fallback


def read_weights(folder):
    """The TF.js weights manifest's groups, dequantised: {'conv1_1/kernel': float32 array, ...}."""
    with open(os.path.join(folder, "tfjs_weights_manifest.json")) as f:
        groups = json.load(f)
    tensors = {}
    for group in groups:
        raw = b"".join(open(os.path.join(folder, p), "rb").read() for p in group["paths"])
        offset = 0
        for entry in group["weights"]:
            count = int(np.prod(entry["shape"])) if entry["shape"] else 1
            q = entry.get("quantization")
            if q:
                if q["dtype"] != "uint8":
                    raise ValueError(f"{entry['name']}: only uint8 quantisation is read here")
                values = np.frombuffer(raw, dtype=np.uint8, count=count, offset=offset).astype(np.float32)
                values = values * np.float32(q["scale"]) + np.float32(q["min"])
                offset += count
            else:
                values = np.frombuffer(raw, dtype=np.float32, count=count, offset=offset)
                offset += count * 4
            tensors[entry["name"]] = values.reshape(entry["shape"]).astype(np.float32)
    return tensors


def read_ppm(file):
    with open(file, "rb") as f:
        data = f.read()
    fields, i = [], 0
    while len(fields) < 4:
        c = data[i:i + 1]
        if c == b"#":
            while data[i:i + 1] != b"\n":
                i += 1
        elif c.isspace():
            i += 1
        else:
            start = i
            while not data[i:i + 1].isspace():
                i += 1
            fields.append(data[start:i].decode())
    if fields[0] != "P6" or fields[3] != "255":
        raise ValueError(f"{file}: not a binary 8-bit PPM")
    w, h = int(fields[1]), int(fields[2])
    pixels = np.frombuffer(data, dtype=np.uint8, count=w * h * 3, offset=i + 1)
    return pixels.reshape(h, w, 3)


def resize_rgb(image, width, height):
    """bench/gpu/sharp-shim.ts resizeRgb, byte for byte: box average (half up) down, repetition up, else nearest."""
    h0, w0, _ = image.shape
    if (w0, h0) == (width, height):
        return image.copy()
    if w0 % width == 0 and h0 % height == 0 and w0 // width == h0 // height:
        k = w0 // width
        n = k * k
        blocks = image.astype(np.int64).reshape(height, k, width, k, 3).sum(axis=(1, 3))
        return ((blocks + n // 2) // n).astype(np.uint8)
    if width % w0 == 0 and height % h0 == 0 and width // w0 == height // h0:
        k = width // w0
        return np.repeat(np.repeat(image, k, axis=0), k, axis=1)
    ys = np.minimum(h0 - 1, np.floor((np.arange(height) + 0.5) * h0 / height).astype(np.int64))
    xs = np.minimum(w0 - 1, np.floor((np.arange(width) + 0.5) * w0 / width).astype(np.int64))
    return image[ys][:, xs]


class Vgg19:
    def __init__(self, tensors, device):
        self.layers = []
        for name in CONV_LAYERS:
            kernel = tensors[f"{name}/kernel"]  # [W, H, in, out]
            weight = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 1, 0)))  # [out, in, H, W]
            bias = torch.from_numpy(tensors[f"{name}/bias"])
            self.layers.append((name, weight.to(device), bias.to(device)))

    @staticmethod
    def pools_after(i):
        return i + 1 < len(CONV_LAYERS) and CONV_LAYERS[i + 1].split("_")[0] != CONV_LAYERS[i].split("_")[0]

    def features(self, x, taps):
        out = {}
        for i, (name, weight, bias) in enumerate(self.layers):
            x = F.relu(F.conv2d(x, weight, bias, padding=1))
            relu = name.replace("conv", "relu")
            if relu in taps:
                out[relu] = x
                if len(out) == len(taps):
                    break
            if self.pools_after(i):
                x = F.max_pool2d(x, 2, 2)
        return out


def gram(features):
    _, c, h, w = features.shape
    flat = features.reshape(c, h * w)
    return flat @ flat.t() / (c * h * w)


def to_vgg(image, device):
    """HxWx3 uint8 RGB -> 1x3xHxW float32, minus the ImageNet mean."""
    x = torch.from_numpy(image.astype(np.float32)).permute(2, 0, 1).unsqueeze(0).to(device)
    # Contiguous: the permuted strides would carry over to the pixels, whose gradient L-BFGS flattens with view().
    return (x - torch.tensor(VGG_MEAN_RGB, device=device).view(1, 3, 1, 1)).contiguous()


def losses(vgg, x, content_targets, style_targets):
    feats = vgg.features(x, set(CONTENT_LAYERS + STYLE_LAYERS))
    content = sum(torch.mean((feats[l] - content_targets[l]) ** 2) for l in CONTENT_LAYERS) * CONTENT_WEIGHT
    style = sum(torch.mean((gram(feats[l]) - style_targets[l]) ** 2) for l in STYLE_LAYERS) * STYLE_WEIGHT
    dx = x[:, :, :, 1:] - x[:, :, :, :-1]
    dy = x[:, :, 1:, :] - x[:, :, :-1, :]
    tv = (torch.mean(dx ** 2) + torch.mean(dy ** 2)) * TV_WEIGHT
    return content, style, tv


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def measure(vgg, content_img, style_img, size, device, warmup, steps, deadline):
    content = to_vgg(resize_rgb(content_img, size, size), device)
    style = to_vgg(resize_rgb(style_img, size, size), device)
    with torch.no_grad():
        content_targets = {l: f.detach() for l, f in vgg.features(content, set(CONTENT_LAYERS)).items()}
        style_targets = {l: gram(f).detach() for l, f in vgg.features(style, set(STYLE_LAYERS)).items()}
    x = content.clone().requires_grad_(True)
    optimizer = torch.optim.LBFGS(
        [x], lr=1, max_iter=1, history_size=LBFGS_HISTORY, tolerance_grad=-1, tolerance_change=-1,
        line_search_fn=None)
    early = []  # the losses of the first steps, to compare with the engine's

    def closure():
        optimizer.zero_grad(set_to_none=False)
        c, s, t = losses(vgg, x, content_targets, style_targets)
        total = c + s + t
        total.backward()
        if len(early) < 3:
            early.append({"content": c.item(), "style": s.item(), "tv": t.item(), "total": total.item()})
        return total

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times = []
    done_warmup = warmup
    step = 0
    while len(times) < steps:
        step += 1
        sync(device)
        t0 = time.perf_counter()
        loss = optimizer.step(closure)  # LBFGS reads the loss back (float(loss)) every step, as the engine does
        sync(device)
        ms = (time.perf_counter() - t0) * 1000
        if not np.isfinite(float(loss)):
            raise RuntimeError(f"the loss is no longer finite at step {step}")
        if step > done_warmup:
            times.append(ms)
        elif step >= 2 and time.time() + ms / 1000 * (done_warmup - step + steps) + 2 > deadline:
            done_warmup = step  # short of time: cut the warm-up rather than lose the size
        if times and time.time() + 2 * ms / 1000 > deadline:
            break
    row = {
        "size": size,
        "width": size,
        "height": size,
        "warmup": done_warmup,
        "timedSteps": len(times),
        "medianMs": round(statistics.median(times), 2),
        "minMs": round(min(times), 2),
        "maxMs": round(max(times), 2),
        "ms": [round(t, 2) for t in times],
        "earlyLosses": early,
    }
    if device.type == "cuda":
        row["peakMemoryMiB"] = round(torch.cuda.max_memory_allocated() / 2 ** 20)
    return row


def set_precision(precision):
    tf32 = precision == "tf32"
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cuda.matmul.allow_tf32 = False  # PyTorch's default; the Gram products are small
    torch.backends.cudnn.benchmark = True


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=os.path.dirname(os.path.abspath(__file__)))
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--sizes", default=env_list("GRAMIAN_BENCH_SIZES", "256,512,1024"))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", default=None, help="fp32,tf32 on CUDA (default both), fp32 on CPU")
    parser.add_argument("--warmup", type=int, default=int(env_list("GRAMIAN_BENCH_WARMUP", "20")))
    parser.add_argument("--steps", type=int, default=int(env_list("GRAMIAN_BENCH_STEPS", "10")))
    parser.add_argument("--budget-s", type=float, default=float(env_list("GRAMIAN_BENCH_PYTORCH_BUDGET_S", "100")))
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (CPU runs)")
    args = parser.parse_args()
    began = time.time()
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    precisions = (args.precision or ("fp32,tf32" if device.type == "cuda" else "fp32")).split(",")
    sizes = [int(s) for s in args.sizes.split(",")]
    tensors = read_weights(os.path.join(args.data, "weights", "vgg19"))
    vgg = Vgg19(tensors, device)
    content_img = read_ppm(os.path.join(args.data, "images", "content.ppm"))
    style_img = read_ppm(os.path.join(args.data, "images", "style.ppm"))
    result = {
        "kind": "pytorch-gatys",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if device.type == "cuda" else None,
        "device": str(device),
        "deviceName": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "settings": {"warmup": args.warmup, "steps": args.steps, "precisions": precisions, "budgetS": args.budget_s},
        "gatys": [],
    }

    def save():
        result["wallS"] = round(time.time() - began, 1)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(result, f, indent=2)
                f.write("\n")

    jobs = [(p, s) for p in precisions for s in sizes]
    for index, (precision, size) in enumerate(jobs):
        left = args.budget_s - (time.time() - began)
        if left < 5:
            result["gatys"].append({"size": size, "precision": precision, "error": "skipped: budget spent"})
            continue
        set_precision(precision)
        # Share what is left among the jobs still to run, the larger sizes getting more.
        weights = [s * s for _, s in jobs[index:]]
        deadline = time.time() + left * weights[0] / sum(weights)
        try:
            row = measure(vgg, content_img, style_img, size, device, args.warmup, args.steps, max(deadline, time.time() + 5))
            row["precision"] = precision
            print(f"pytorch {device.type} {precision} {size}x{size}: median {row['medianMs']} ms/step "
                  f"(min {row['minMs']}, max {row['maxMs']}, {row['timedSteps']} steps after {row['warmup']})",
                  flush=True)
            result["gatys"].append(row)
        except Exception as error:  # noqa: BLE001 - record and go on with the next size
            message = f"{type(error).__name__}: {error}".splitlines()[0]
            print(f"pytorch {precision} {size}x{size}: {message}", file=sys.stderr, flush=True)
            result["gatys"].append({"size": size, "precision": precision, "error": message})
            if device.type == "cuda":
                torch.cuda.empty_cache()
        save()
    save()


if __name__ == "__main__":
    main()
