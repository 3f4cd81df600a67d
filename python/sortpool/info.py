"""`sortpool info`: what this machine offers for deployment (no torch needed; torch is reported
when present). Returns a dict; every probe catches its own failure and reports it as text."""
from __future__ import annotations

import importlib
import importlib.metadata
import platform
import sys
from typing import List


def _version(module_name: str):
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    except Exception as e:
        return f"broken ({type(e).__name__}: {e})"
    return getattr(module, "__version__", "installed")


_RTX_PROBE = """
import json, sys
from sortpool import trt as sp_trt
from sortpool.trt import rtx as trt_rtx
out = {}
try:
    trt = sp_trt.import_tensorrt(builder=True, backend=trt_rtx.BACKEND)
    out.update(module=trt.__name__, version=str(trt.__version__), targets=trt_rtx.supported_targets(trt))
    if sys.argv[1]:
        sp_trt.load_plugin(trt, sys.argv[1])
        out["sortpool_versions"] = sp_trt.our_plugin_versions(trt)
        out["parser_library"] = trt_rtx.make_parser_find_library(trt)
except Exception as e:
    out["error"] = f"{type(e).__name__}: {e}"
print(json.dumps(out))
"""


def _tensorrt_rtx(plugin_path) -> dict:
    """TensorRT for RTX, probed in a child process: the plugin library serves one TensorRT per
    process, and this one may have loaded another already."""
    import importlib.util
    import json
    import subprocess

    from .trt.rtx import MODULES

    if not any(importlib.util.find_spec(m) for m in MODULES):
        return {"error": "not installed"}
    try:
        done = subprocess.run([sys.executable, "-c", _RTX_PROBE, plugin_path or ""], capture_output=True, text=True,
                              timeout=120)
        return json.loads(done.stdout.strip().splitlines()[-1])
    except Exception as e:
        return {"error": f"the probe failed: {type(e).__name__}: {e}"}


def collect() -> dict:
    from . import __version__
    from ._libs import trt_plugin_path
    from .cuda import available_bindings, driver_gpus
    from .errors import UserInputError
    from .trt.discovery import RUNTIME_MODULES, _try_import, our_plugin_versions, plugin_creators

    info: dict = {"sortpool": __version__, "python": sys.version.split()[0], "platform": platform.platform()}
    info["packages"] = {name: _version(name) for name in ("numpy", "onnx", "onnxruntime", "polygraphy")}
    try:
        import importlib.util

        # torch only when present, and without importing it when absent (importing it is slow).
        info["packages"]["torch"] = _version("torch") if importlib.util.find_spec("torch") else None
    except Exception:
        info["packages"]["torch"] = None
    # `sortpool serve` / `triton-repo` (requirements/serve.txt); read from the metadata, not imported
    for dist in ("nvidia-pytriton", "tritonclient"):
        try:
            info["packages"][dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            info["packages"][dist] = None
    trt_modules = {}
    loaded = None
    for name in RUNTIME_MODULES:
        module, why = _try_import(name)
        trt_modules[name] = getattr(module, "__version__", "installed") if module is not None else None
        if module is not None and loaded is None:
            loaded = module
    info["tensorrt"] = trt_modules
    info["cuda_bindings"] = available_bindings()
    gpus, why = driver_gpus()
    info["gpu"] = {"visible": bool(gpus), "devices": gpus, "reason": why}

    try:
        from ._libs import ort_library_path

        info["ort_library"] = ort_library_path()
    except (FileNotFoundError, UserInputError) as e:  # not built, or $SORTPOOL_ORT_LIBRARY names no file
        info["ort_library"] = None
        info["ort_library_error"] = str(e)
    if info["ort_library"] is not None:
        try:
            from .ort import ort_cpu_paths

            info["ort_cpu_path"] = ort_cpu_paths(info["ort_library"])
        except (OSError, AttributeError) as e:  # a library from before the CPU paths
            info["ort_cpu_path"] = {"error": f"the library does not say ({e})"}
    try:
        info["trt_plugin"] = trt_plugin_path()
    except UserInputError as e:  # $SORTPOOL_TRT_PLUGIN names no file
        info["trt_plugin"] = None
        info["trt_plugin_error"] = str(e)

    plugins: dict = {"module": loaded.__name__ if loaded is not None else None}
    if loaded is None:
        plugins["error"] = "no TensorRT Python module"
    else:
        if info["trt_plugin"] is None:
            plugins["error"] = info.get("trt_plugin_error", "the plugin library was not built")
        else:
            from .trt import load_plugin

            try:
                load_plugin(loaded, info["trt_plugin"])
                plugins["sortpool_versions"] = our_plugin_versions(loaded)
            except Exception as e:
                plugins["error"] = f"{type(e).__name__}: {e}"
        try:  # info reports what it can: a registry that cannot list its creators is one more line
            plugins["creators"] = [list(c) for c in plugin_creators(loaded)]
        except Exception as e:
            plugins["creators_error"] = f"{type(e).__name__}: {e}"
    info["plugin_registry"] = plugins
    info["tensorrt_rtx"] = _tensorrt_rtx(info["trt_plugin"])
    return info


def lines(info: dict) -> List[str]:
    def v(x):
        return x if x else "not installed"

    out = [f"sortpool {info['sortpool']} (Python {info['python']}, {info['platform']})"]
    for name, ver in info["packages"].items():
        out.append(f"  {name:18s} {v(ver)}")
    for name, ver in info["tensorrt"].items():
        out.append(f"  {name:18s} {v(ver)}")
    for name, ver in info["cuda_bindings"].items():
        out.append(f"  {name:18s} {v(ver)}")
    gpu = info["gpu"]
    out.append("GPU: " + (", ".join(gpu["devices"]) if gpu["visible"] else f"none visible ({gpu['reason']})"))
    out.append(f"ONNX Runtime op library: {info['ort_library'] or 'NOT FOUND: ' + info.get('ort_library_error', '')}")
    cpu = info.get("ort_cpu_path")
    if cpu is not None:
        if cpu.get("error"):
            out.append(f"ONNX Runtime op CPU path: ERROR {cpu['error']}")
        else:
            how = "forced by $SORTPOOL_ORT_CPU_PATH" if cpu["forced"] else "the widest this CPU supports"
            out.append(f"ONNX Runtime op CPU path: {cpu['chosen']} ({how}; supported: {', '.join(cpu['supported'])})")
    plugin_error = info.get("trt_plugin_error")
    plugin = info["trt_plugin"] or (f"ERROR {plugin_error}" if plugin_error else "not built (needs nvcc)")
    out.append(f"TensorRT plugin library: {plugin}")
    reg = info["plugin_registry"]
    if reg.get("module"):
        head = f"plugin creators seen by {reg['module']}"
        if "sortpool_versions" in reg:
            head += f" (SortedWeightedPool versions {', '.join(reg['sortpool_versions'])})"
        if reg.get("error"):
            head += f" [{reg['error']}]"
        out.append(head + ":")
        for name, version, ns in reg.get("creators", []):
            out.append(f"  {name} version {version}" + (f" namespace {ns}" if ns else ""))
        if "creators_error" in reg:
            out.append(f"  (the registry could not list its creators: {reg['creators_error']})")
    else:
        out.append(f"plugin creators: n/a ({reg.get('error')})")
    rtx = info.get("tensorrt_rtx", {})
    if "version" in rtx:
        line = (f"TensorRT for RTX {rtx['version']} ({rtx['module']}): builds for {', '.join(rtx['targets'])} "
                "without a GPU")
        if "sortpool_versions" in rtx:
            line += f"; SortedWeightedPool versions {', '.join(rtx['sortpool_versions'])}"
        out.append(line + (f" [{rtx['error']}]" if "error" in rtx else ""))
    else:
        out.append(f"TensorRT for RTX: {rtx.get('error', 'not probed')}")
    return out
