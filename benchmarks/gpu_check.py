"""CUDA checks that the CPU-only test suite cannot make: the bfloat16 encoder path and a training step.

    python benchmarks/gpu_check.py     (needs a GPU; prints what it measured)
"""
import time

import numpy as np
import torch

from slca_min import RegionDataset, SAMEncoder, SLCAClassifier, make_phantoms, train

assert torch.cuda.is_available(), "no CUDA device"
print(torch.__version__, torch.cuda.get_device_name())
rng = np.random.default_rng(0)
images = [rng.integers(0, 256, shape, dtype=np.uint8) for shape in [(480, 640, 3), (300, 200), (1024, 1024, 3), (28, 28)]]
for kind in ("tiny", "vit_b"):
    cpu = SAMEncoder.untrained(kind, seed=0).embed(images, batch_size=4)
    for fast in (True, False):
        gpu = SAMEncoder.untrained(kind, seed=0, fast_attention=fast, device="cuda")
        out = gpu.embed(images, batch_size=4)
        assert out.dtype == torch.float32 and out.is_cuda and not out.requires_grad
        diff = (out.cpu() - cpu).abs()
        cos = torch.nn.functional.cosine_similarity(out.cpu().flatten(1), cpu.flatten(1)).min().item()
        print(f"{kind} fast_attention={fast}: CUDA bf16 vs CPU fp32: max abs diff {diff.max():.3g}, "
              f"mean abs {diff.mean():.3g}, |ref| mean {cpu.abs().mean():.3g}, min cosine {cos:.5f}")
        assert cos > 0.99

images, labels, _ = make_phantoms(160, size=64, seed=0)
encoder = SAMEncoder.untrained("tiny", device="cuda")
R = encoder.regions(list(images), grid=16, batch_size=64)
train_set = RegionDataset(images[:128], labels[:128], R[:128].cpu(), image_size=64, augment=True)
val_set = RegionDataset(images[128:], labels[128:], R[128:].cpu(), image_size=64)
start = time.perf_counter()
history = train(SLCAClassifier(num_classes=2), train_set, val_set, epochs=3, batch_size=32, device="cuda", progress=False)
print(f"SLCA training on CUDA: {time.perf_counter() - start:.1f} s for 3 epochs, losses "
      f"{[round(h['train_loss'], 3) for h in history]}")
assert history[-1]["train_loss"] < history[0]["train_loss"]
print("gpu_check passed")
