"""sortpool: deploy sorted weighted pooling with ONNX Runtime and TensorRT (no torch needed).

The native libraries: ort_library_path() (ONNX Runtime custom op) and trt_plugin_path()
(TensorRT plugin). Sessions: make_ort_session(). The op's identity: OP_DOMAIN, OP_TYPE.
"""
from __future__ import annotations

from ._libs import ort_library_path, trt_plugin_path
from .contract import OP_DOMAIN, OP_DOMAIN_VERSION, OP_TYPE
from .ort import make_ort_session, session_options

__version__ = "0.1.0"

__all__ = ["OP_DOMAIN", "OP_DOMAIN_VERSION", "OP_TYPE", "__version__", "make_ort_session", "ort_library_path",
           "session_options", "trt_plugin_path"]
