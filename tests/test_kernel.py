"""The instruction set of the C++ library (ROOSBI_MARCH) and the kernel's results across builds."""

import os
import subprocess
import sys

import pytest

from roosbi import library
from roosbi.exceptions import LibraryBuildError

# A random 2-37-64-1 network for each activation, evaluated on events that fill whole blocks, a
# partial block and every kind of leftover tile; prints the bytes of log r as hex.
_EVALUATE = r"""
import sys
import numpy as np
from roosbi.library import import_root, load_library
from roosbi.onnx import ACTIVATION_CODES, DenseNetwork
from roosbi.roofit import evaluate_log_ratio, ratio_from_network

ROOT = import_root()
print(load_library(), file=sys.stderr)
rng = np.random.default_rng(7)
x = [ROOT.RooRealVar(f"v{i}", f"v{i}", 0.0, -100.0, 100.0) for i in range(2)]
inputs = rng.normal(scale=3.0, size=(1000, 2))
for kind in sorted(ACTIVATION_CODES):
    sizes = [2, 37, 64, 1]
    net = DenseNetwork([], [], [], [])
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        net.weights.append(rng.normal(size=(n_out, n_in)) * 1.5 / np.sqrt(n_in))
        net.biases.append(rng.normal(scale=0.5, size=n_out))
        net.activations.append(kind if n_out > 1 else "identity")
        net.activation_params.append(0.2 if kind in ("leaky_relu", "elu") else 0.0)
    ratio = ratio_from_network(net, x, name=f"r_{kind}", output="log_ratio")
    print(kind, evaluate_log_ratio(ratio, inputs).tobytes().hex())
"""


def _key_with(monkeypatch, value):
    if value is None:
        monkeypatch.delenv("ROOSBI_MARCH", raising=False)
    else:
        monkeypatch.setenv("ROOSBI_MARCH", value)
    return library.library_path()


def test_march_is_part_of_the_flags_and_of_the_cache_key(monkeypatch):
    native = _key_with(monkeypatch, None)
    assert "-march=native" in library.cxxflags()
    assert _key_with(monkeypatch, "native") == native
    assert _key_with(monkeypatch, "  ") == native  # empty: the default
    v3 = _key_with(monkeypatch, "x86-64-v3")
    assert "-march=x86-64-v3" in library.cxxflags() and "-march=native" not in library.cxxflags()
    v4 = _key_with(monkeypatch, "x86-64-v4")
    assert len({native, v3, v4}) == 3
    assert v3.parent.parent == native.parent.parent == library.cache_dir()


def test_only_native_builds_depend_on_the_cpu_model(monkeypatch):
    """A library for a named target, built once in a shared cache, serves every node of a cluster."""
    keys = {}
    for model in ("model name : CPU A", "model name : CPU B"):
        monkeypatch.setattr(library, "_cpu_model", lambda model=model: model)
        keys[model] = (_key_with(monkeypatch, None), _key_with(monkeypatch, "x86-64-v3"))
    (native_a, v3_a), (native_b, v3_b) = keys.values()
    assert native_a != native_b and v3_a == v3_b


def test_a_level_the_cpu_lacks_is_refused(monkeypatch):
    monkeypatch.setattr(library, "_cpu_flags", lambda: {"sse4_2", "avx", "avx2", "fma"})
    with pytest.raises(LibraryBuildError, match="x86-64-v4.*lacks.*avx512f"):
        library._check_cpu_supports("x86-64-v4")
    with pytest.raises(LibraryBuildError, match="lacks.*bmi2"):
        library._check_cpu_supports("x86-64-v3")
    library._check_cpu_supports("native")  # not a level: nothing to check
    library._check_cpu_supports("znver3")
    monkeypatch.setattr(library, "_cpu_flags", lambda: None)  # no /proc/cpuinfo: nothing to check
    library._check_cpu_supports("x86-64-v4")


@pytest.mark.parametrize("value", ["x86-64-v3 -O0", "native;rm", "$(true)"])
def test_march_that_is_not_one_target_is_refused(monkeypatch, value):
    monkeypatch.setenv("ROOSBI_MARCH", value)
    with pytest.raises(LibraryBuildError, match="ROOSBI_MARCH"):
        library.cxxflags()


def _cpu_flags() -> set:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def _evaluate(march: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "ROOSBI_MARCH"}
    if march:
        env["ROOSBI_MARCH"] = march
    out = subprocess.run([sys.executable, "-c", _EVALUATE], env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return dict(line.split() for line in out.stdout.splitlines())


@pytest.mark.slow
@pytest.mark.skipif(not {"avx2", "fma"} <= _cpu_flags(), reason="needs a CPU with AVX2 and FMA")
def test_avx2_build_gives_the_same_numbers_as_the_native_one():
    """One extra build (x86-64-v3, unless it is cached): every activation, bit for bit."""
    native = _evaluate(None)
    avx2 = _evaluate("x86-64-v3")
    assert native.keys() == avx2.keys() and len(native) == 10
    for kind in native:
        assert avx2[kind] == native[kind], kind
