"""Serving: `sortpool serve` (Triton Inference Server through PyTriton) and `sortpool triton-repo`
(a model repository for Triton's onnxruntime and tensorrt backends). PyTriton is imported only
when a server starts; the repository writer needs tritonclient only to check its files."""
from .model import TritonModelSpec, TritonTensor, onnx_triton_spec, triton_spec
from .repository import Repository, RepositoryOptions, parse_config, write_repository
from .server import ModelServer, ServeOptions, serve

__all__ = ["ModelServer", "Repository", "RepositoryOptions", "ServeOptions", "TritonModelSpec", "TritonTensor",
           "onnx_triton_spec", "parse_config", "serve", "triton_spec", "write_repository"]
