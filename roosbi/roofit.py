"""Make learned ratios and learned pdfs as native RooFit objects.

:func:`learned_ratio` translates an ONNX model and builds a ``RooLearnedRatio`` (C++) whose
inputs are RooFit variables; :func:`learned_pdf` turns it into a pdf in the observables.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from .checks import require_object
from .exceptions import InputError, UnsupportedModelError
from .library import import_root, load_library
from .onnx import (
    ACTIVATION_CODES,
    DenseNetwork,
    load_model,
    log_ratio_from_output,
    onnxruntime_session,
    output_kind,
    read_metadata,
    resolve_output,
    set_metadata,
    translate,
    write_atomic,
)

log = logging.getLogger(__name__)

OUTPUTS = {"ratio": 0, "log_ratio": 1, "score": 2}

#: How far (a fraction of the training width, each side) an observable may go beyond the extent of
#: the training sample before RooLearnedRatio and :func:`check_data_coverage` warn. Parameters get
#: no margin: they were drawn over their whole training range, so any value beyond it is an
#: extrapolation; the extent of a sample is only its most extreme events, which observed events
#: pass by a little now and then (the reasoning is in RooLearnedRatio.h).
OBSERVABLE_MARGIN = 0.05


def _resolve_inputs(inputs, workspace) -> list:
    """RooAbsReal objects for ``inputs`` (objects, or names looked up in ``workspace``)."""
    resolved = []
    for i, item in enumerate(inputs):
        if isinstance(item, str):
            if workspace is None:
                raise InputError(f"input '{item}' is given by name, so a workspace is needed to look it up")
            require_object(workspace, "workspace", "RooWorkspace")
            obj = workspace.arg(item)
            if not obj:
                raise InputError(f"no variable or function named '{item}' in workspace '{workspace.GetName()}'")
            item = obj
        resolved.append(require_object(item, f"inputs[{i}]", "RooAbsReal"))
    return resolved


def learned_ratio(
    model,
    inputs=None,
    workspace=None,
    name: str = "learned_ratio",
    output: str = "ratio",
    backend: str = "native",
    model_output: str | None = None,
):
    """Build a ``RooLearnedRatio`` from an ONNX model.

    Parameters
    ----------
    model : str, path, bytes or onnx.ModelProto
        An ONNX model: raw inputs in; out log r, or class probabilities or logits (``model_output``).
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
    model_output : {"log_ratio", "probability", "probabilities", "logits"}, optional
        What the model's output holds (:data:`roosbi.onnx.MODEL_OUTPUTS`): log r (the logit of
        the target class); one column p of the target class (log r = log(p / (1 - p))); two
        columns (p_reference, p_target) (log r = log(p1 / p0)); or two softmax logits (log r =
        z1 - z0). Class 1 is the target p(x|theta). None (default): the model's ``roosbi.output``
        metadata (roosbi's exports; :func:`roosbi.annotate_model` for other models), else only what
        is unambiguous (skl2onnx classifier outputs; an output computed by a linear layer, a logit);
        an output after a Sigmoid or Softmax, or of a tree ensemble regressor, with no metadata is
        refused rather than guessed. The native backend drops a final Sigmoid, or replaces a final
        2-class Softmax by the difference of the logits; onnxruntime probabilities are clipped to
        [1e-300, 1] before the log.

    Returns
    -------
    ROOT.RooLearnedRatio or ROOT.RooAbsReal
        Not yet imported into any workspace.

    Raises
    ------
    UnsupportedModelError
        If the graph cannot be translated (the message names the operator).
    InputError
        If the number of inputs does not match the network, a name is unknown, or what the model's
        output holds is ambiguous (pass ``model_output``).
    """
    if output not in OUTPUTS:
        raise InputError(f"output must be one of {', '.join(OUTPUTS)}, not {output!r}")
    if model_output is not None:
        output_kind(model_output)
    proto = load_model(model)
    meta = read_metadata(proto)
    if inputs is None:
        if "inputs" not in meta:
            raise InputError(
                "the model records no input names; pass inputs=[...] explicitly, or record them in the model "
                "with roosbi.annotate_model(path, output=..., inputs=[...])"
            )
        inputs = meta["inputs"]
    args = _resolve_inputs(inputs, workspace)
    if backend == "onnxruntime":
        return _onnxruntime_ratio(proto, args, name, output, model_output)
    if backend != "native":
        raise InputError(f"backend must be 'native' or 'onnxruntime', not {backend!r}")
    network = translate(proto, model_output)
    if model_output is not None:  # the stored model says what its output holds, for export_onnx
        proto = _with_output_metadata(proto, model_output)
    ranges, margins = _recorded_ranges(meta, args)
    ratio = ratio_from_network(
        network,
        args,
        name=name,
        output=output,
        onnx_bytes=proto.SerializeToString(),
        training_ranges=ranges,
        range_margins=margins,
    )
    _warn_outside_range(ratio)
    return ratio


def ratio_from_network(
    network: DenseNetwork,
    inputs,
    name: str = "learned_ratio",
    output: str = "ratio",
    onnx_bytes=b"",
    training_ranges: dict | None = None,
    range_margins: dict | None = None,
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
    training_ranges : dict, optional
        ``{input name: (lo, hi)}``, keyed by the names of the RooFit inputs (variables or
        functions): where the network was trained. The object warns (RooFit's message service,
        once per input) when it is evaluated outside them. Inputs left out get (-inf, inf): no
        check. None (the default): no ranges, no checks.
    range_margins : dict, optional
        ``{input name: fraction}``: how far beyond each end an input may go without a warning, as
        a fraction of its training width (default 0; :func:`learned_ratio` gives observables
        :data:`OBSERVABLE_MARGIN`).

    Raises
    ------
    InputError
        If the number of inputs does not match the network, a value is not finite, or a training
        range or margin is malformed or names no input.
    """
    if output not in OUTPUTS:
        raise InputError(f"output must be one of {', '.join(OUTPUTS)}, not {output!r}")
    args = [require_object(arg, f"inputs[{i}]", "RooAbsReal") for i, arg in enumerate(inputs)]
    n_net = network.layer_sizes[0]
    if n_net != len(args):
        names = ", ".join(a.GetName() for a in args)
        raise InputError(f"the network takes {n_net} inputs but {len(args)} RooFit inputs were given ({names})")
    weights = np.concatenate([np.asarray(w, dtype=np.float64).ravel() for w in network.weights])
    biases = np.concatenate([np.asarray(b, dtype=np.float64).ravel() for b in network.biases])
    if not (np.all(np.isfinite(weights)) and np.all(np.isfinite(biases))):
        raise InputError("the network's weights or biases hold NaN or Inf")
    bounds = _range_vectors(args, training_ranges, range_margins)

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
    if bounds is not None:
        ratio.setTrainingRanges(*(vec["double"](b) for b in bounds))
    # RooFit proxies hold raw pointers: keep the inputs alive as long as the ratio is
    # (`learned_ratio(path, inputs=[ROOT.RooRealVar(...)])` would otherwise dangle).
    ratio._roosbi_keepalive = args
    return ratio


def _with_output_metadata(proto, model_output: str):
    """A copy of ``proto`` whose ``roosbi.output`` metadata is ``model_output``."""
    import onnx

    copy = onnx.ModelProto()
    copy.CopyFrom(proto)
    set_metadata(copy, {"output": resolve_output(proto, model_output).kind})
    return copy


def _onnxruntime_ratio(proto, args: list, name: str, output: str, model_output: str | None = None):
    """The model behind RooFit.bindFunction, evaluated by onnxruntime (not persistable)."""
    ROOT = import_root()
    choice = resolve_output(proto, model_output)
    n_graph = proto.graph.input[0].type.tensor_type.shape.dim[1].dim_value
    if n_graph and n_graph != len(args):
        raise InputError(f"the ONNX model takes {n_graph} inputs but {len(args)} RooFit inputs were given")
    session, input_name, dtype = onnxruntime_session(proto, threads=None)
    warned = []

    def evaluate(*columns):
        n = max(len(np.atleast_1d(c)) for c in columns)
        table = np.column_stack([np.broadcast_to(np.asarray(c, dtype=dtype), (n,)) for c in columns])
        raw = session.run([choice.tensor], {input_name: table})[0]
        logr, invalid = log_ratio_from_output(raw, choice.kind, n)
        if invalid.any() and not warned:  # NaN for RooFit; an exception would not get through the callback
            warned.append(True)
            log.warning(
                "'%s': output '%s' holds values outside [0, 1], which are not probabilities (%s from %s); "
                "they give NaN",
                name,
                choice.tensor,
                choice.kind,
                choice.source,
            )
        if output == "log_ratio":
            return logr
        return np.exp(logr) if output == "ratio" else 1.0 / (1.0 + np.exp(-logr))

    evaluate(*(arg.getVal() for arg in args))  # the output has the columns model_output needs, or an error now
    bound = ROOT.RooFit.bindFunction(name, evaluate, *args)
    bound._roosbi_keepalive = (args, session, evaluate)
    log.warning(
        "'%s' uses the onnxruntime backend: a Python callback that cannot be saved in a workspace "
        "file or used from C++, and that calls Python on every evaluation; use backend='native' "
        "(RooLearnedRatio) when the graph is a dense network",
        name,
    )
    return bound


def evaluate_log_ratio(ratio, inputs: np.ndarray, calibrated: bool = True) -> np.ndarray:
    """Log r from a ``RooLearnedRatio`` (C++, double) for rows of ``inputs``, shape (n, n_inputs).

    ``calibrated=False`` gives the network's own log r, before the calibration that
    :func:`roosbi.stats.calibration.RatioCalibration.apply` may have set. The shape is checked
    here: the C++ method takes a raw pointer and cannot.
    """
    require_object(ratio, "ratio", "RooLearnedRatio")
    inputs = np.ascontiguousarray(inputs, dtype=np.float64)
    n_inputs = ratio.layerSizes()[0]
    if inputs.ndim != 2 or inputs.shape[1] != n_inputs:
        raise InputError(f"inputs must have shape (n, {n_inputs}), not {inputs.shape}")
    out = np.empty(len(inputs))
    if len(inputs):
        evaluate = ratio.logRatio if calibrated else ratio.networkLogRatio
        evaluate(inputs.ravel(), len(inputs), out)
    return out


def _recorded_ranges(meta: dict, args: list) -> tuple[dict | None, dict]:
    """Training ranges and margins from a model's metadata, keyed by the names of the RooFit inputs.

    The model names its inputs (``inputs``); they are matched to ``args`` by position, so inputs
    renamed in RooFit (or functions standing in for them) get the right range. Models from older
    roosbi versions record only ``parameter_ranges``: the observables then get no check.
    """
    recorded = {**meta.get("parameter_ranges", {}), **meta.get("input_ranges", {})}
    if not recorded:
        return None, {}
    names = meta.get("inputs")
    if not isinstance(names, list) or len(names) != len(args):
        names = [arg.GetName() for arg in args]
    observables = set(meta.get("observables", []))
    ranges, margins = {}, {}
    for model_name, arg in zip(names, args, strict=True):
        if model_name in recorded:
            ranges[arg.GetName()] = recorded[model_name]
            margins[arg.GetName()] = OBSERVABLE_MARGIN if model_name in observables else 0.0
    return ranges or None, margins


def _range_vectors(args: list, training_ranges, range_margins) -> tuple[list, list, list] | None:
    """Checked (lo, hi, margin) lists in input order for ``RooLearnedRatio::setTrainingRanges``."""
    if training_ranges is None:
        if range_margins:
            raise InputError("range_margins needs training_ranges")
        return None
    margins_given = range_margins or {}
    if not isinstance(training_ranges, dict) or not isinstance(margins_given, dict):
        raise InputError("training_ranges and range_margins must be dicts keyed by input name")
    names = [arg.GetName() for arg in args]
    unknown = sorted(set(training_ranges) - set(names)) + sorted(set(margins_given) - set(names))
    if unknown:
        raise InputError(
            f"training range or margin given for {', '.join(map(repr, unknown))}, which "
            f"{'is' if len(unknown) == 1 else 'are'} not among the inputs ({', '.join(names)})"
        )
    lo, hi, margins = [], [], []
    for name in names:
        pair = training_ranges.get(name, (-np.inf, np.inf))
        try:
            a, b = (float(v) for v in pair)
        except (TypeError, ValueError):
            raise InputError(f"training_ranges['{name}'] must be a pair (lo, hi), not {pair!r}") from None
        if np.isnan(a) or np.isnan(b) or not a <= b or a == np.inf or b == -np.inf:
            raise InputError(f"training_ranges['{name}'] = ({a:g}, {b:g}) is not a range: need lo <= hi and no NaN")
        margin = margins_given.get(name, 0.0)
        try:
            margin = float(margin)
        except (TypeError, ValueError):
            margin = float("nan")
        if not (np.isfinite(margin) and margin >= 0):
            raise InputError(f"range_margins['{name}'] = {margins_given[name]!r} must be a finite number >= 0")
        lo.append(a)
        hi.append(b)
        margins.append(margin)
    return lo, hi, margins


def _margin_note(margin: float) -> str:
    return f" widened by {100 * margin:g}% of its width each side" if margin > 0 else ""


def _warn_outside_range(ratio) -> None:
    """Warn when an input's RooFit range reaches beyond the range the network was trained on.

    The object itself warns when it is *evaluated* out there (a fit may never go there); this
    says at build time that it can. Same ranges and margins as the object's check.
    """
    if not ratio.hasTrainingRanges():
        return
    covered_lo, covered_hi = ratio.coveredMin(), ratio.coveredMax()
    for i, arg in enumerate(ratio.inputs()):
        # A function has no range of its own. (Not hasattr: a failed lookup on a cppyy object goes
        # through cppyy's error path, which crashes if Ctrl-C lands there; see roosbi.interrupts.)
        if not arg.InheritsFrom("RooAbsRealLValue"):
            continue
        if arg.getMin() < covered_lo[i] or arg.getMax() > covered_hi[i]:
            log.warning(
                "input '%s' ranges over [%g, %g] but the network was trained on [%g, %g]%s; "
                "the learned ratio is an extrapolation outside that range",
                arg.GetName(),
                arg.getMin(),
                arg.getMax(),
                ratio.trainingMin()[i],
                ratio.trainingMax()[i],
                _margin_note(ratio.trainingMargins()[i]),
            )


def check_data_coverage(pdf, data) -> dict[tuple[str, str], int]:
    """Warn about observed events that lie outside the range a learned ratio was trained on.

    For every ``RooLearnedRatio`` among the components of ``pdf`` that has training ranges, and
    each of its inputs that is a column of ``data``, counts the events outside the covered range
    (the training range widened by the input's margin, the rule the C++ object uses) and logs one
    warning per such input: how many events, the most extreme value, the training range. The
    learned ratio there is an extrapolation, and can be anything: one event far out can decide
    a fit. :func:`roosbi.inference.create_nll` calls this.

    Returns
    -------
    dict
        ``{(ratio name, input name): number of events outside}`` for every input checked.
    """
    ROOT = import_root()
    # isinstance, not hasattr: a failed lookup on a cppyy object crashes if Ctrl-C lands in it.
    if not isinstance(pdf, ROOT.RooAbsArg) or not isinstance(data, ROOT.RooDataSet):
        return {}  # a RooDataHist's bins lie inside the variables' ranges, which learned_ratio checks
    ratios = [arg for arg in pdf.getComponents() if arg.InheritsFrom("RooLearnedRatio")]
    ratios = [ROOT.BindObject(ROOT.addressof(r), ROOT.RooLearnedRatio) for r in ratios]
    ratios = [r for r in ratios if r.hasTrainingRanges()]
    if not ratios:
        return {}
    columns = data.to_numpy()
    where = f" of '{data.GetName()}'" if data.GetName() else ""
    counts = {}
    for ratio in ratios:
        covered_lo, covered_hi = ratio.coveredMin(), ratio.coveredMax()
        for i, arg in enumerate(ratio.inputs()):
            values = columns.get(arg.GetName())
            if values is None:
                continue
            values = np.asarray(values, dtype=np.float64)
            outside = (values < covered_lo[i]) | (values > covered_hi[i])
            counts[(ratio.GetName(), arg.GetName())] = n = int(outside.sum())
            if not n:
                continue
            lo, hi = ratio.trainingMin()[i], ratio.trainingMax()[i]
            far = values[outside]
            extreme = far[np.argmax(np.maximum(lo - far, far - hi))]
            log.warning(
                "%d of %d events%s have %s outside the range '%s' was trained on, [%g, %g]%s "
                "(the most extreme at %g): the learned ratio is an extrapolation there, and these events can "
                "decide the fit",
                n,
                len(values),
                where,
                arg.GetName(),
                ratio.GetName(),
                lo,
                hi,
                _margin_note(ratio.trainingMargins()[i]),
                extreme,
            )
    return counts


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
    require_object(ratio, "ratio", "RooAbsReal")
    if reference_pdf is not None:
        require_object(reference_pdf, "reference_pdf", "RooAbsPdf")
    learned = isinstance(ratio, ROOT.RooLearnedRatio)
    if learned and ratio.output() != OUTPUTS["ratio"]:
        raise InputError("learned_pdf needs a RooLearnedRatio with output='ratio'")
    for i, obs in enumerate(observables):
        require_object(obs, f"observables[{i}]", "RooAbsReal")
        if not ratio.dependsOn(obs):
            raise InputError(f"observable '{obs.GetName()}' is not an input of '{ratio.GetName()}'")
    if learned and normalize:
        _check_reference(stored_metadata(ratio), reference_pdf)
    func = ratio
    if reference_pdf is not None and not is_uniform(reference_pdf):
        func = ROOT.RooProduct(f"{name}_func", "r * p_ref", ROOT.RooArgList(ratio, reference_pdf))
    pdf = ROOT.RooWrapperPdf(name, f"learned pdf {name}", func, not normalize)
    # The pdf points at the ratio (and the product) without owning them; keep them alive with it,
    # so that `learned_pdf(learned_ratio(...), ...)` is safe.
    pdf._roosbi_keepalive = (ratio, func, reference_pdf)
    return pdf


def stored_metadata(ratio) -> dict:
    """The roosbi metadata of the ONNX model stored in a ``RooLearnedRatio`` (empty if it holds none)."""
    stored = ratio.onnxBytes()
    return read_metadata(np.asarray(stored, dtype=np.uint8).tobytes()) if stored.size() else {}


def _check_reference(meta: dict, reference_pdf) -> None:
    """Refuse a normalised learned pdf whose reference density is missing or cannot be uniform.

    Normalising r over x gives p(x|theta) only when r is divided by a uniform reference
    (r = p / p_ref with p_ref constant), or when p_ref itself is given. The model's metadata
    records what it was trained against; a ratio to a fixed parameter point or to the marginal
    p(x) wrapped as if its reference were uniform gives a pdf that is not p(x|theta), and a fit
    of it is wrong with no sign of it (a fit at the edge of the range, MINOS failing).
    """
    reference = meta.get("reference")
    given_uniform = reference_pdf is None or is_uniform(reference_pdf)
    if reference is None or meta.get("reference_uniform") or not given_uniform:
        return  # old model (nothing recorded), a uniform reference, or the reference density is given
    fixes = (
        "use normalize=False (the NLL is then -sum log r plus a constant in the parameters, which fits "
        "correctly whatever the reference), or pass reference_pdf=<the reference density of x>"
    )
    if reference.startswith(("point", "marginal")):
        raise InputError(
            f"the model was trained against the reference '{reference}', so r = p(x|theta) / p_ref(x) with a "
            "p_ref(x) that is not uniform; normalising r over x as if it were gives a pdf that is not p(x|theta): "
            + fixes
        )
    if reference.startswith("pdf "):
        raise InputError(
            f"the model was trained against the reference pdf '{reference[4:]}', which is not uniform; "
            f"pass reference_pdf=ws.pdf('{reference[4:]}'), or " + fixes.removeprefix("use ")
        )
    log.warning(
        "the model's reference is '%s' (not known to be uniform); normalising r alone over x assumes a uniform "
        "reference: %s",
        reference,
        fixes,
    )


def is_uniform(pdf) -> bool:
    """True for a RooUniform or a product of them: a constant density, which drops out of r p_ref."""
    ROOT = import_root()
    if isinstance(pdf, ROOT.RooUniform):
        return True
    if isinstance(pdf, ROOT.RooProdPdf):
        return all(is_uniform(component) for component in pdf.pdfList())
    return False


def export_onnx(ratio, path: str | os.PathLike) -> Path:
    """Write the ONNX model stored in a ``RooLearnedRatio`` back to a file (atomically)."""
    require_object(ratio, "ratio", "RooLearnedRatio")
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
    require_object(workspace, "workspace", "RooWorkspace")
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
