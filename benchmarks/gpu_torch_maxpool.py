"""Reference point for tools/gpu_check.sh: torch max_pool2d (2x2, stride 2) on the same >= 256 MB
inputs as the plugin benchmark, with a device-to-device copy measured in the same run.
Prints one line per dtype: name, ms (median), GB/s (bytes read + written), % of copy bandwidth."""
import sys

try:
    import torch
except ImportError:
    print("torch: not installed - skipped")
    sys.exit(0)
if not torch.cuda.is_available():
    print("torch: no CUDA - skipped")
    sys.exit(0)


def median_ms(fn, reps=20):
    times = []
    for i in range(reps + 2):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        if i >= 2:
            times.append(a.elapsed_time(b))
    times.sort()
    return times[len(times) // 2]


for dtype, n in ((torch.float32, 16), (torch.float16, 32)):
    x = torch.randn(n, 64, 256, 256, device="cuda", dtype=dtype)
    dst = torch.empty_like(x)
    copy_ms = median_ms(lambda: dst.copy_(x))
    pool_ms = median_ms(lambda: torch.nn.functional.max_pool2d(x, 2, 2))
    es = x.element_size()
    copy_bw = 2 * x.numel() * es / copy_ms / 1e6
    pool_bw = (x.numel() + x.numel() // 4) * es / pool_ms / 1e6
    name = "fp32" if dtype == torch.float32 else "fp16"
    print(f"torch max_pool2d {name} {tuple(x.shape)}: {pool_ms:.3f} ms, {pool_bw:.1f} GB/s, "
          f"{100 * pool_bw / copy_bw:.1f}% of copy ({copy_bw:.1f} GB/s)")
