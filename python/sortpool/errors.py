"""Errors of the deployment tooling, each with the exit status the `sortpool` command returns for it.

Exit statuses of `sortpool build/run/check/info`:

    0  success (check: every comparison that ran passed)
    1  check: a mismatch; or a failure inside a backend (TensorRT could not parse or build, ...)
    2  bad usage or bad input: a missing file, an npz without an input, a wrong dtype or shape
    3  a backend the command needs is missing: TensorRT, a CUDA binding, a GPU, PyTorch,
       Polygraphy (check: nothing could be compared)
"""
from __future__ import annotations

EXIT_OK = 0
EXIT_MISMATCH = 1
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 3


class SortpoolError(Exception):
    """An error the `sortpool` command reports in one line, with `exit_code` as its status."""

    exit_code = EXIT_FAILURE


class UserInputError(SortpoolError, ValueError):
    """Bad user input: a file that does not exist, an npz that lacks an input, a wrong dtype/rank/shape."""

    exit_code = EXIT_USAGE


class BackendUnavailable(SortpoolError, RuntimeError):
    """A backend is not installed or not usable here (TensorRT, a CUDA binding, a GPU, PyTorch)."""

    exit_code = EXIT_UNAVAILABLE


class BackendFailure(SortpoolError, RuntimeError):
    """A backend was there but failed (TensorRT could not parse the model, build, deserialize...)."""

    exit_code = EXIT_FAILURE
