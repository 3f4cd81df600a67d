"""Child process of tests/trt_rtx: parses and builds each case with TensorRT for RTX's real ONNX
parser and builder, our plugin registered, and prints one JSON result per case.

A child process because the plugin library serves one TensorRT per process (the pytest process
may hold the TensorRT 11 lean runtime) and because a parser failure that ends the process must
fail the tests, not kill pytest.

    python _worker.py PLUGIN_LIBRARY CASES.json RESULTS.json
"""
import json
import re
import sys

# The builder's detailed layer report (ProfilingVerbosity.DETAILED, logged at VERBOSE) names the
# type and format it chose for each plugin layer's inputs and outputs.
_PLUGIN_LAYER = "LayerType: custom_layer"
_IO = re.compile(r"Datatype: (\w+), Format: \(([^)]*)\)")


def main() -> int:
    plugin, cases_path, results_path = sys.argv[1:4]
    from sortpool import trt as sp_trt
    from sortpool.trt import rtx as trt_rtx

    trt = sp_trt.import_tensorrt(builder=True, backend=trt_rtx.BACKEND)

    class CapturingLogger(trt.ILogger):
        def __init__(self):
            trt.ILogger.__init__(self)
            self.messages = []
            self.plugin_layers = []

        def log(self, severity, msg):
            if int(severity) <= int(trt.ILogger.Severity.WARNING):
                self.messages.append(f"{severity.name}: {msg}")
            elif _PLUGIN_LAYER in msg:  # one line per layer
                self.plugin_layers += [[list(io) for io in _IO.findall(line)] for line in msg.splitlines()
                                       if _PLUGIN_LAYER in line]

    logger = CapturingLogger()
    builder = trt.Builder(logger)  # the first logger is TensorRT for RTX's global one
    registry = trt.get_plugin_registry()
    registry.load_library(plugin)
    trt_rtx.make_parser_find_library(trt)
    creators = sorted((c.name, str(c.plugin_version)) for c in registry.all_creators if c.name == "SortedWeightedPool")
    library = open(plugin, "rb").read()
    marker = library[-4096:]  # the library's tail (its section headers), to find it inside an engine

    results = []
    for case in json.load(open(cases_path)):
        logger.messages.clear()
        logger.plugin_layers.clear()
        result = {"id": case["id"]}
        network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
        parser = trt.OnnxParser(network, logger)
        result["parsed"] = bool(parser.parse(open(case["model"], "rb").read()))
        result["parser_errors"] = [parser.get_error(i).desc() for i in range(parser.num_errors)]
        if result["parsed"]:
            result["outputs"] = [[network.get_output(i).name, [int(d) for d in network.get_output(i).shape],
                                  network.get_output(i).dtype.name] for i in range(network.num_outputs)]
            result["layers"] = [network.get_layer(i).type.name for i in range(network.num_layers)]
            config = builder.create_builder_config()
            trt_rtx.set_targets(trt, config, case.get("targets", ["SM89"]))
            config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED
            if case.get("profile"):
                profile = builder.create_optimization_profile()
                for name, (lo, opt, hi) in case["profile"].items():
                    profile.set_shape(name, lo, opt, hi)
                config.add_optimization_profile(profile)
            if case.get("serialize_plugin"):  # (a version-compatible engine would need libnvinfer_lean.so.1)
                config.plugins_to_serialize = [plugin]
            engine = builder.build_serialized_network(network, config)
            data = bytes(memoryview(engine)) if engine is not None else b""
            result["engine_bytes"] = len(data)
            result["engine_carries_plugin_library"] = bool(data) and marker in data
        result["log"] = list(logger.messages)
        result["plugin_layer_io"] = list(logger.plugin_layers)  # per plugin layer: [[type, format], ...]
        results.append(result)
        json.dump({"creators": creators, "results": results}, open(results_path, "w"))  # what ran, even on a crash
    return 0


if __name__ == "__main__":
    sys.exit(main())
