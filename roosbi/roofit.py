"""Make learned ratios and learned pdfs as native RooFit objects.

:func:`learned_ratio` translates an ONNX model and builds a ``RooLearnedRatio`` (C++) whose
inputs are RooFit variables; :func:`learned_pdf` turns it into a pdf in the observables.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from .exceptions import InputError, UnsupportedModelError
from .library import import_root, load_library
from .onnx import ACTIVATION_CODES, DenseNetwork, load_model, read_metadata, translate, write_atomic

log = logging.getLogger(__name__)

OUTPUTS = {"ratio": 0, "log_ratio": 1, "score": 2}


def _resolve_inputs(inputs, workspace) -> list:
    """RooAbsReal objects for ``inputs`` (objects, or names looked up in ``workspace``)."""
    ROOT = import_root()
    resolved = []
    for item in inputs:
        if isinstance(item, str):
            if workspace is None:
                raise InputError(f"input '{item}' is given by name, so a workspace is needed to look it up")
            obj = workspace.arg(item)
            if not obj:
                raise InputError(f"no variable or function named '{item}' in workspace '{workspace.GetName()}'")
            item = obj
        if not isinstance(item, ROOT.RooAbsReal):
            raise InputError(f"input {item!r} is not a RooAbsReal")
        resolved.append(item)
    return resolved


def learned_ratio(
    model,
    inputs=None,
    workspace=None,
    name: str = "learned_ratio",
    output: str = "ratio",
    backend: str = "native",
):
    """Build a ``RooLearnedRatio`` from an ONNX model.

    Parameters
    ----------
    model : str, path, bytes or onnx.ModelProto
        A roosbi ONNX model (raw inputs in, log r out).
    inputs : list of str or RooAbsReal, optional
        The RooFit inputs in network order. Defaults to the input names recorded in the model's
        metadata, looked up in ``workspace``.
    workspace : ROOT.RooWorkspace, optional
        Where names are looked up.
    name : str
        Name of the new object.
    output : {"ratio", "log_ratio", "score"}
        What the object returns: r, log r or the classifier score r / (1 + r).
    backend : {"native", "onnxruntime"}
        "native": the C++ ``RooLearnedRatio`` (persistable, double precision). "onnxruntime": a
        Python callback (``RooFit.bindFunction``) around onnxruntime, for graphs the translator
        cannot express (tree ensembles, convolutions). It cannot be written to a workspace file or
        used from C++, and it calls Python for every batch; a warning says so.

    Returns
    -------
    ROOT.RooLearnedRatio or ROOT.RooAbsReal
        Not yet imported into any workspace.

    Raises
    ------
    UnsupportedModelError
        If the graph cannot be translated (the message names the operator).
    InputError
        If the number of inputs does not match the network, or a name is unknown.
    """
    if output not in OUTPUTS:
        raise InputError(f"output must be one of {', '.join(OUTPUTS)}, not {output!r}")
    proto = load_model(model)
    meta = read_metadata(proto)
    if inputs is None:
        if "inputs" not in meta:
            raise InputError("the model records no input names; pass inputs=[...] explicitly")
        inputs = meta["inputs"]
    args = _resolve_inputs(inputs, workspace)
    if backend == "onnxruntime":
        return _onnxruntime_ratio(proto, args, name, output)
    if backend != "native":
        raise InputError(f"backend must be 'native' or 'onnxruntime', not {backend!r}")
    network = translate(proto)
    _warn_outside_range(args, meta)
    return ratio_from_network(network, args, name=name, output=output, onnx_bytes=proto.SerializeToString())


def ratio_from_network(
    network: DenseNetwork, inputs, name: str = "learned_ratio", output: str = "ratio", onnx_bytes=b""
):
    """Build a ``RooLearnedRatio`` from dense layers (what :func:`roosbi.onnx.translate` returns).

    Parameters
    ----------
    network : DenseNetwork
        The layers, in float64.
    inputs : list of RooAbsReal
        The RooFit inputs in network order.
    name : str
        Name of the new object.
    output : {"ratio", "log_ratio", "score"}
        What the object returns.
    onnx_bytes : bytes
        The ONNX model to store in the object (empty when the layers did not come from one).

    Raises
    ------
    InputError
        If the number of inputs does not match the network or a value is not finite.
    """
    if output not in OUTPUTS:
        raise InputError(f"output must be one of {', '.join(OUTPUTS)}, not {output!r}")
    args = list(inputs)
    n_net = network.layer_sizes[0]
    if n_net != len(args):
        names = ", ".join(a.GetName() for a in args)
        raise InputError(f"the network takes {n_net} inputs but {len(args)} RooFit inputs were given ({names})")
    weights = np.concatenate([np.asarray(w, dtype=np.float64).ravel() for w in network.weights])
    biases = np.concatenate([np.asarray(b, dtype=np.float64).ravel() for b in network.biases])
    if not (np.all(np.isfinite(weights)) and np.all(np.isfinite(biases))):
        raise InputError("the network's weights or biases hold NaN or Inf")

    ROOT = import_root()
    load_library()
    arglist = ROOT.RooArgList()
    for arg in args:
        arglist.add(arg)
    vec = ROOT.std.vector
    ratio = ROOT.RooLearnedRatio(
        name,
        f"learned likelihood ratio {name}",
        arglist,
        vec["int"](network.layer_sizes),
        vec["double"](weights.tolist()),
        vec["double"](biases.tolist()),
        vec["int"]([ACTIVATION_CODES[a] for a in network.activations]),
        vec["double"](network.activation_params),
        vec["std::uint8_t"](list(onnx_bytes)),
        OUTPUTS[output],
    )
    # RooFit proxies hold raw pointers: keep the inputs alive as long as the ratio is
    # (`learned_ratio(path, inputs=[ROOT.RooRealVar(...)])` would otherwise dangle).
    ratio._roosbi_keepalive = args
    return ratio


def _onnxruntime_ratio(proto, args: list, name: str, output: str):
    """The model behind RooFit.bindFunction, evaluated by onnxruntime (not persistable)."""
    import onnxruntime as ort

    ROOT = import_root()
    n_graph = proto.graph.input[0].type.tensor_type.shape.dim[1].dim_value
    if n_graph and n_graph != len(args):
        raise InputError(f"the ONNX model takes {n_graph} inputs but {len(args)} RooFit inputs were given")
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    spec = session.get_inputs()[0]
    dtype = np.float64 if spec.type == "tensor(double)" else np.float32

    def evaluate(*columns):
        n = max(len(np.atleast_1d(c)) for c in columns)
        table = np.column_stack([np.broadcast_to(np.asarray(c, dtype=dtype), (n,)) for c in columns])
        logr = np.asarray(session.run(None, {spec.name: table})[0], dtype=np.float64).reshape(n, -1)[:, 0]
        if output == "log_ratio":
            return logr
        return np.exp(logr) if output == "ratio" else 1.0 / (1.0 + np.exp(-logr))

    bound = ROOT.RooFit.bindFunction(name, evaluate, *args)
    bound._roosbi_keepalive = (args, session, evaluate)
    log.warning(
        "'%s' uses the onnxruntime backend: a Python callback that cannot be saved in a workspace "
        "file or used from C++, and that calls Python on every evaluation; use backend='native' "
        "(RooLearnedRatio) when the graph is a dense network",
        name,
    )
    return bound


def evaluate_log_ratio(ratio, inputs: np.ndarray) -> np.ndarray:
    """Log r from a ``RooLearnedRatio`` (C++, double) for rows of ``inputs``, shape (n, n_inputs).

    The shape is checked here: the C++ method takes a raw pointer and cannot.
    """
    inputs = np.ascontiguousarray(inputs, dtype=np.float64)
    n_inputs = ratio.layerSizes()[0]
    if inputs.ndim != 2 or inputs.shape[1] != n_inputs:
        raise InputError(f"inputs must have shape (n, {n_inputs}), not {inputs.shape}")
    out = np.empty(len(inputs))
    if len(inputs):
        ratio.logRatio(inputs.ravel(), len(inputs), out)
    return out


def _warn_outside_range(args, meta: dict) -> None:
    """Warn when a parameter's range reaches outside the range the network was trained on."""
    for arg in args:
        trained = meta.get("parameter_ranges", {}).get(arg.GetName())
        if trained is None or not hasattr(arg, "getMin"):
            continue
        if arg.getMin() < trained[0] - 1e-12 or arg.getMax() > trained[1] + 1e-12:
            log.warning(
                "parameter '%s' ranges over [%g, %g] but the network was trained on [%g, %g]; "
                "the learned ratio is an extrapolation outside that range",
                arg.GetName(),
                arg.getMin(),
                arg.getMax(),
                *trained,
            )


def learned_pdf(ratio, observables, reference_pdf=None, name: str = "learned_pdf", normalize: bool = True):
    """A pdf p(x|theta) = r(x|theta) p_ref(x) from a learned ratio.

    Parameters
    ----------
    ratio : ROOT.RooLearnedRatio or ROOT.RooAbsReal
        Must return the ratio (``output="ratio"``). Any other RooAbsReal that returns r works too
        (the onnxruntime backend); RooFit then integrates it numerically.
    observables : list of RooRealVar
        The observables x (only used to check that they are inputs of the ratio).
    reference_pdf : ROOT.RooAbsPdf, optional
        p_ref(x). Omit it, or pass a RooUniform (or a product of RooUniforms), when the reference
        is uniform: then p is proportional to r alone, and r is integrated by RooLearnedRatio's
        own quadrature. Any other reference makes RooFit integrate r p_ref numerically.
    name : str
        Name of the pdf.
    normalize : bool
        True: normalise over x (r is integrated by a fixed Gauss-Legendre rule in the C++ class,
        smooth in theta), which removes any theta-dependent offset of the learned log r.
        False: take r p_ref as it is (self-normalised, as ROOT's rf615 does); the NLL is then
        exactly -sum log r + const.
    """
    ROOT = import_root()
    if hasattr(ratio, "output") and ratio.output() != OUTPUTS["ratio"]:
        raise InputError("learned_pdf needs a RooLearnedRatio with output='ratio'")
    for obs in observables:
        if not ratio.dependsOn(obs):
            raise InputError(f"observable '{obs.GetName()}' is not an input of '{ratio.GetName()}'")
    func = ratio
    if reference_pdf is not None and not _is_uniform(reference_pdf):
        func = ROOT.RooProduct(f"{name}_func", "r * p_ref", ROOT.RooArgList(ratio, reference_pdf))
    pdf = ROOT.RooWrapperPdf(name, f"learned pdf {name}", func, not normalize)
    # The pdf points at the ratio (and the product) without owning them; keep them alive with it,
    # so that `learned_pdf(learned_ratio(...), ...)` is safe.
    pdf._roosbi_keepalive = (ratio, func, reference_pdf)
    return pdf


def _is_uniform(pdf) -> bool:
    """True for a RooUniform or a product of them: a constant density, which drops out of r p_ref."""
    ROOT = import_root()
    if isinstance(pdf, ROOT.RooUniform):
        return True
    if isinstance(pdf, ROOT.RooProdPdf):
        return all(_is_uniform(component) for component in pdf.pdfList())
    return False


def export_onnx(ratio, path: str | os.PathLike) -> Path:
    """Write the ONNX model stored in a ``RooLearnedRatio`` back to a file (atomically)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    if not ratio.writeOnnx(str(tmp)):
        tmp.unlink(missing_ok=True)
        raise OSError(f"could not write {path}")
    os.replace(tmp, path)
    return path


def export_json(workspace, path: str | os.PathLike) -> Path:
    """Write a workspace as RooFit JSON (HS3), atomically.

    HS3 has no definition for a learned ratio, and RooFit's JSON tool skips objects it cannot
    write with only a printed message; a file without the learned ratio would look complete.
    So a workspace that holds a ``RooLearnedRatio`` is refused here.

    Raises
    ------
    UnsupportedModelError
        If the workspace holds a RooLearnedRatio. Save it as a ROOT file
        (``workspace.writeToFile``) instead, or export the network with :func:`export_onnx`.
    """
    ROOT = import_root()
    learned = sorted(arg.GetName() for arg in workspace.components() if arg.InheritsFrom("RooLearnedRatio"))
    if learned:
        raise UnsupportedModelError(
            f"workspace '{workspace.GetName()}' holds RooLearnedRatio object(s) {', '.join(learned)}, which the RooFit "
            "JSON (HS3) format cannot describe; save the workspace as a ROOT file with writeToFile(), "
            "or write the network out with roosbi.export_onnx()"
        )
    text = ROOT.RooJSONFactoryWSTool(workspace).exportJSONtoString()
    return write_atomic(path, str(text).encode())
