"""GPU check of the TensorRT for RTX path (called by tools/gpu_check.sh): where the lent card is one
TensorRT for RTX targets, build a SortedWeightedPool model for it and compare the engine with ONNX
Runtime (`sortpool check --backend tensorrt-rtx`); elsewhere say in one line why not.

    python tools/gpu_check_rtx.py OUT_DIR
Exit status: 0 passed, 1 a failure, 3 not checked (the line says why).
"""
import subprocess
import sys
from pathlib import Path


def compute_capability():
    """(name, "8.9") of GPU 0, or None."""
    try:
        done = subprocess.run(["nvidia-smi", "--query-gpu=name,compute_cap", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=60)
        name, cc = done.stdout.strip().splitlines()[0].rsplit(",", 1)
        return name.strip(), cc.strip()
    except (OSError, IndexError, ValueError, subprocess.SubprocessError):
        return None


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/sortpool-gpu-rtx")
    out.mkdir(parents=True, exist_ok=True)
    gpu = compute_capability()
    if gpu is None:
        print("TensorRT for RTX: skipped: no GPU (nvidia-smi)")
        return 3
    name, cc = gpu
    from sortpool import trt as sp_trt
    from sortpool.trt import rtx as trt_rtx
    from sortpool.errors import SortpoolError

    try:
        trt = sp_trt.import_tensorrt(builder=True, backend=trt_rtx.BACKEND)
    except SortpoolError as e:
        print(f"TensorRT for RTX: skipped on {name} ({cc}): {e}")
        return 3
    target = "SM" + cc.replace(".", "")
    if target not in trt_rtx.supported_targets(trt):
        print(f"TensorRT for RTX: skipped: {trt.__version__} does not target compute capability {cc} ({name}); "
              f"it targets {', '.join(trt_rtx.supported_targets(trt))}")
        return 3
    from onnx import TensorProto, helper, save

    nodes = [helper.make_node("SortedWeightedPool", ["x"], ["p"], domain="sortpool", kernel_shape=[3, 3], strides=[2, 2],
                              pads=[1, 1, 1, 1], ceil_mode=1, pool_range=4, weights=[0.4, 0.3, 0.2, 0.1],
                              plugin_version="2"),
             helper.make_node("Relu", ["p"], ["r"]),
             helper.make_node("SortedWeightedPool", ["r"], ["y"], domain="sortpool", kernel_shape=[2, 2], pool_range=2,
                              weights=[0.75, 0.25] * 8, plugin_version="2")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 8, "H", "W"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    model = out / "rtx_check.onnx"
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("sortpool", 1)]),
         str(model))
    cmd = [sys.executable, "-m", "sortpool", "check", str(model), "--backend", "tensorrt-rtx", "--require-trt",
           "--min-shapes", "1x8x5x5", "--opt-shapes", "4x8x64x64", "--max-shapes", "8x8x127x129",
           "--report", str(out / "rtx_check.json")]
    print("+ " + " ".join(cmd), flush=True)
    rc = subprocess.run(cmd).returncode
    if rc == 3:
        print(f"TensorRT for RTX: skipped: {trt.__version__} on {name} ({cc}) could not run the engine (check exit "
              "status 3: a CUDA binding or the GPU is missing, see above)")
        return 3
    print(f"TensorRT for RTX {trt.__version__} on {name} ({cc}): engine vs ONNX Runtime, check exit status {rc}")
    return 0 if rc == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
