#!/usr/bin/env python3
"""Load test of `sortpool serve` (Triton Inference Server through PyTriton) on loopback.

For each model (the cluttered-digits sample's model and a larger single-layer pooling model) and
each server setting (dynamic batching on and off), a server is started with `sortpool serve` in
a child process; then, per protocol (HTTP, gRPC) and concurrency level, that many client threads
send requests of batch 1 until a count or a time bound is reached. Every answer is compared with
the expected output (the numpy reference for the pooling model, in-process ONNX Runtime on the
same input for the digits model); errors and time-outs are counted as dropped requests. The
server processes' resident memory is sampled before and after each level. The same requests are
also run in-process in ONNX Runtime (one session, the same number of threads calling it), the
floor that the serving overhead is measured against.

Runs in .venv-serve (requirements/serve.txt):
    PYTHONPATH=python .venv-serve/bin/python benchmarks/bench_serving.py [--json out.json]
Not a test: nothing here asserts speed; it fails only on a wrong or dropped answer.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from onnx import TensorProto, helper

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "python"))
sys.path.insert(0, str(ROOT / "tests"))
import sortpool  # noqa: E402
from loopback import free_ports  # noqa: E402
from reference import sorted_weighted_pool_ref  # noqa: E402

DIGITS_MODEL = ROOT / "samples" / "cluttered_digits" / "results" / "best.onnx"
POOL_ATTRS = dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], pool_range=4,
                  weights=[0.4, 0.3, 0.2, 0.1])
POOL_SHAPE = (32, 64, 64)  # one request: 32 channels of 64x64 (512 KiB in, 128 KiB out)


def pool_model(path: Path) -> None:
    node = helper.make_node("SortedWeightedPool", ["x"], ["y"], domain="sortpool", **POOL_ATTRS)
    graph = helper.make_graph([node], "pool", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", *POOL_SHAPE])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", POOL_SHAPE[0], 32, 32])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("sortpool", 1)])
    model.ir_version = 8
    path.write_bytes(model.SerializeToString())


def rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def process_tree(pid: int):
    """pid and all its descendants (the serve process, tritonserver, the Python-backend stubs)."""
    children = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def tree_rss(pid: int) -> float:
    return sum(rss_mib(p) for p in process_tree(pid))


class Server:
    def __init__(self, model: Path, name: str, dynamic_batching: bool, instances: int, log: Path):
        self.http, self.grpc, self.metrics = free_ports(3)
        self.name = name
        cmd = [sys.executable, "-m", "sortpool", "serve", str(model), "--name", name, "--http-port", str(self.http),
               "--grpc-port", str(self.grpc), "--metrics-port", str(self.metrics), "--instances", str(instances),
               "--max-batch-size", "16", "--max-queue-delay-us", "500"]
        if not dynamic_batching:
            cmd.append("--no-dynamic-batching")
        env = dict(os.environ, PYTHONPATH=str(ROOT / "python"))
        self.log = log
        self._out = open(log, "w")
        self.proc = subprocess.Popen(cmd, stdout=self._out, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 180
        while "ready;" not in log.read_text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("server did not start:\n" + log.read_text()[-3000:])
            time.sleep(0.3)

    def stop(self) -> float:
        t0 = time.perf_counter()
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(120)
        self._out.close()
        if code != 0:
            raise RuntimeError(f"server exited with {code}:\n" + self.log.read_text()[-3000:])
        return time.perf_counter() - t0


def make_client(protocol: str, server: Server):
    if protocol == "http":
        import tritonclient.http as c
        return c, c.InferenceServerClient(f"127.0.0.1:{server.http}", connection_timeout=60, network_timeout=60)
    import tritonclient.grpc as c
    return c, c.InferenceServerClient(f"127.0.0.1:{server.grpc}")


def load(server: Server, protocol: str, concurrency: int, inputs, expected, input_name: str, output_name: str,
         max_requests: int, max_seconds: float, atol: float):
    latencies, wrong, dropped = [], [], []
    lock = threading.Lock()
    counter = iter(range(max_requests))
    deadline = time.perf_counter() + max_seconds

    def worker():
        mod, client = make_client(protocol, server)
        try:
            while time.perf_counter() < deadline:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                x = inputs[i % len(inputs)]
                inp = mod.InferInput(input_name, list(x.shape), "FP32")
                inp.set_data_from_numpy(x)
                t0 = time.perf_counter()
                try:
                    y = client.infer(server.name, [inp], outputs=[mod.InferRequestedOutput(output_name)]).as_numpy(
                        output_name)
                except Exception as e:  # a dropped request
                    with lock:
                        dropped.append(repr(e)[:300])
                    continue
                dt = time.perf_counter() - t0
                ok = y is not None and y.shape == expected[i % len(inputs)].shape and np.allclose(
                    y, expected[i % len(inputs)], rtol=1e-5, atol=atol, equal_nan=True)
                with lock:
                    latencies.append(dt)
                    if not ok:
                        wrong.append(i)
        finally:
            client.close()

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return summarize(latencies, wall) | {"wrong": len(wrong), "dropped": len(dropped),
                                          "dropped_examples": dropped[:3]}


def summarize(latencies, wall):
    lat = np.sort(np.array(latencies)) * 1e3 if latencies else np.array([np.nan])
    return {"requests": len(latencies), "seconds": round(wall, 2),
            "throughput_rps": round(len(latencies) / wall, 1) if wall else None,
            "p50_ms": round(float(np.percentile(lat, 50)), 2), "p95_ms": round(float(np.percentile(lat, 95)), 2),
            "p99_ms": round(float(np.percentile(lat, 99)), 2)}


def in_process(session, inputs, input_name, concurrency, max_requests, max_seconds):
    """The same batch-1 requests straight into one ONNX Runtime session from `concurrency` threads."""
    latencies, lock = [], threading.Lock()
    counter = iter(range(max_requests))
    deadline = time.perf_counter() + max_seconds

    def worker():
        while time.perf_counter() < deadline:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            t0 = time.perf_counter()
            session.run(None, {input_name: inputs[i % len(inputs)]})
            with lock:
                latencies.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as ex:
        for _ in range(concurrency):
            ex.submit(worker)
    return summarize(latencies, time.perf_counter() - t0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--requests", type=int, default=600, help="most requests per level (default 600)")
    ap.add_argument("--seconds", type=float, default=8.0, help="most seconds per level (default 8)")
    ap.add_argument("--instances", type=int, default=1, help="model instances in the server (default 1)")
    ap.add_argument("--soak", type=int, default=4, help="rounds of the highest level over gRPC after the levels, "
                                                         "with the server's memory after each (default 4)")
    ap.add_argument("--models", nargs="+", choices=["digits", "pool"], default=["digits", "pool"])
    ap.add_argument("--json", type=Path, help="write the results here")
    args = ap.parse_args(argv)

    # The model and the servers' logs: removed after a clean run, kept to read after a failed one.
    work = Path(tempfile.mkdtemp(prefix="sortpool-bench-serving-"))
    status = 1
    try:
        status = run(args, work)
    finally:
        if status == 0:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"the servers' logs are kept in {work}", file=sys.stderr)
    return status


def run(args, work: Path) -> int:
    rng = np.random.default_rng(0)
    models = {}
    if "digits" in args.models:
        if not DIGITS_MODEL.is_file():
            raise SystemExit(f"{DIGITS_MODEL} is missing: run samples/cluttered_digits/run.py first")
        xs = [rng.random((1, 1, 40, 40), dtype=np.float32) for _ in range(64)]
        sess = sortpool.make_ort_session(str(DIGITS_MODEL), intra_op_threads=1)
        exp = [sess.run(None, {"input": x})[0] for x in xs]  # in-process ONNX Runtime, batch 1
        models["digits"] = (DIGITS_MODEL, xs, exp, "input", "output", 1e-5)
    if "pool" in args.models:
        path = work / "pool.onnx"
        pool_model(path)
        xs = [rng.standard_normal((1, *POOL_SHAPE), dtype=np.float32) for _ in range(16)]
        exp = [sorted_weighted_pool_ref(x, POOL_ATTRS["kernel_shape"], POOL_ATTRS["strides"], POOL_ATTRS["pads"], 0,
                                        POOL_ATTRS["pool_range"], POOL_ATTRS["weights"]) for x in xs]
        models["pool"] = (path, xs, exp, "x", "y", 1e-5)

    results = {"machine": f"{platform.node()} ({os.cpu_count()} CPUs, {platform.processor() or platform.machine()})",
               "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "python": platform.python_version(),
               "instances": args.instances, "requests_per_level": args.requests, "seconds_per_level": args.seconds,
               "rows": []}
    failures = 0
    for mname, (path, xs, exp, iname, oname, atol) in models.items():
        sess = sortpool.make_ort_session(str(path), intra_op_threads=1)
        for c in args.concurrency:
            r = in_process(sess, xs, iname, c, args.requests, args.seconds)
            row = {"model": mname, "server": "in-process ONNX Runtime", "protocol": "-", "concurrency": c, **r}
            results["rows"].append(row)
            print(json.dumps(row), flush=True)
        for batching in (True, False):
            label = "dynamic batching" if batching else "no batching"
            server = Server(path, mname, batching, args.instances, work / f"{mname}-{batching}.log")
            pid = server.proc.pid
            rss0 = tree_rss(pid)
            try:
                for protocol in ("http", "grpc"):
                    for c in args.concurrency:
                        r = load(server, protocol, c, xs, exp, iname, oname, args.requests, args.seconds, atol)
                        row = {"model": mname, "server": f"sortpool serve, {label}", "protocol": protocol,
                               "concurrency": c, **r, "rss_mib": round(tree_rss(pid), 1),
                               "rss_start_mib": round(rss0, 1)}
                        results["rows"].append(row)
                        print(json.dumps(row), flush=True)
                        failures += r["wrong"] + r["dropped"]
                soak = []
                for _ in range(args.soak):  # does the server's memory settle under steady load?
                    r = load(server, "grpc", max(args.concurrency), xs, exp, iname, oname, args.requests, args.seconds,
                             atol)
                    failures += r["wrong"] + r["dropped"]
                    soak.append({"requests": r["requests"], "wrong": r["wrong"], "dropped": r["dropped"],
                                 "rss_mib": round(tree_rss(pid), 1)})
                results.setdefault("soak", []).append({"model": mname, "server": label, "rounds": soak})
                print(json.dumps(results["soak"][-1]), flush=True)
            finally:
                stop_s = server.stop()
            print(json.dumps({"model": mname, "server": label, "stopped_in_s": round(stop_s, 1)}), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    print(table(results))
    if failures:
        print(f"FAILED: {failures} wrong or dropped answers", file=sys.stderr)
        return 1
    return 0


def table(results) -> str:
    lines = ["| model | server | protocol | clients | requests | req/s | p50 ms | p95 ms | p99 ms | wrong | dropped | "
             "server RSS MiB (start -> after) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in results["rows"]:
        rss = f"{r['rss_start_mib']} -> {r['rss_mib']}" if "rss_mib" in r else "-"
        lines.append(f"| {r['model']} | {r['server']} | {r['protocol']} | {r['concurrency']} | {r['requests']} | "
                     f"{r['throughput_rps']} | {r['p50_ms']} | {r['p95_ms']} | {r['p99_ms']} | {r.get('wrong', '-')} | "
                     f"{r.get('dropped', '-')} | {rss} |")
    for s in results.get("soak", []):
        rounds = s["rounds"]
        lines.append(f"\nsoak, {s['model']}, {s['server']}: {len(rounds)} rounds of {sum(r['requests'] for r in rounds)} "
                     f"requests in all, {sum(r['wrong'] + r['dropped'] for r in rounds)} wrong or dropped; server RSS "
                     f"after each round: {', '.join(str(r['rss_mib']) for r in rounds)} MiB")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
