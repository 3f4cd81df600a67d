"""TensorRT side of the tooling, one module per job:

* :mod:`.discovery`: which TensorRT Python module (TensorRT, its lean/dispatch runtimes, TensorRT
  for RTX), a logger that counts errors, registering libsortpool_trt_plugin.so;
* :mod:`.build`: parsing and building engines (``sortpool build``);
* :mod:`.engine`: running engines from numpy (``sortpool run``, ``sortpool check``);
* :mod:`.rtx`: what only TensorRT for RTX needs (targets, its parser's library name).

numpy is the only requirement beyond TensorRT itself: no torch, no onnxruntime, no polygraphy.
"""
from __future__ import annotations

from ..contract import set_plugin_version
from .build import BuildOptions, BuildSummary, build_engine, choose_plugin_version, make_progress_monitor
from .discovery import (BACKENDS, PLUGIN_NAME, PLUGIN_NAMESPACE, RUNTIME_MODULES, import_tensorrt, load_plugin,
                        make_logger, our_plugin_versions, plugin_creators, trt_major)
from .engine import TrtEngine

__all__ = ["BACKENDS", "BuildOptions", "BuildSummary", "PLUGIN_NAME", "PLUGIN_NAMESPACE", "RUNTIME_MODULES", "TrtEngine",
           "build_engine", "choose_plugin_version", "import_tensorrt", "load_plugin", "make_logger",
           "make_progress_monitor", "our_plugin_versions", "plugin_creators", "set_plugin_version", "trt_major"]
