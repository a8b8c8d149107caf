"""The demo's pdfs: each method's learned pdf and the baselines (morphing, SALLY's templates, score templates)."""

from __future__ import annotations

from ..data.problems import Problem
from ..library import import_root
from ..mixture import mixture_pdf, template_pdf
from ..morphing import morphed_pdf, score_morphed_pdf
from ..roofit import evaluate_log_ratio, is_uniform, learned_pdf, learned_ratio
from ..stats.calibration import RatioCalibration, fit_calibration
from . import terms as term_stages
from .methods import Learned


def morphing_pdfs(
    prob: Problem, learned: list[Learned], normalize: bool, morph_setting: str, n_templates: int, n_train: int, seed
) -> tuple[dict[str, str], list[str]]:
    """Each method's pdf and the morphing baseline, in the workspace; their names and report notes."""
    ws = prob.workspace
    observables = [prob.var(n) for n in prob.observables]
    pdfs = {"analytic": prob.target_pdf}
    notes = []
    for item in learned:
        if item.method == "sally":
            pdfs[item.key] = sally_template_pdf(prob, item, morph_setting, n_templates, n_train, seed)
            notes.append(
                f"SALLY ({item.key}): the score t(x) at {point_text(item.estimator.point_)} learned by regression on "
                f"the joint score, then a histogram template fit of t(x) morphed over {n_templates} points per "
                "parameter (RooMomentMorphFuncND), the optimal-observable baseline."
            )
            continue
        name = "learned_pdf" if item.key == "learned" else f"learned_pdf_{item.method}"
        pdf = learned_pdf(item.ratio, observables, ws.pdf(prob.reference_pdf), name=name, normalize=normalize)
        ws.Import(pdf, Silence=True)
        item.pdf = pdfs[item.key] = name
    n_template = n_train // n_templates
    morphed_pdf(prob, n_templates=n_templates, n_events=n_template, setting=morph_setting, seed=seed)
    pdfs["morphed"] = "morphed_pdf"
    # RooMomentMorphFuncND over several parameters: the vectorised backend takes seconds to set up
    # and gives a different NLL (ROOT's rf617 has the same note), so that one uses the legacy one.
    if len(prob.parameters) > 1:
        for name in pdfs.values():
            if ws.pdf(name).getStringAttribute("roosbi_eval_errors") == "expected":  # a moment morph
                ws.pdf(name).setStringAttribute("roosbi_backend", "legacy")
        # It also integrates the moments of each multi-dimensional template adaptively and, when
        # the objects are deleted, prints a warning per template and moment that the target
        # precision was not always reached (harmless for the fit): 64 lines for a 4 x 4 grid.
        ROOT = import_root()
        msg = ROOT.RooMsgService.instance()
        for i in range(msg.numStreams()):
            msg.getStream(i).removeTopic(ROOT.RooFit.NumericIntegration)
    if not normalize:
        how = "self-normalised"
    elif is_uniform(ws.pdf(prob.reference_pdf)):
        how = "normalised over x by fixed Gauss-Legendre quadrature"
    else:  # r p_ref: RooFit integrates the product itself
        how = "times the reference density, normalised over x by RooFit's numerical integral"
    methods = [item.method for item in learned if item.method != "sally"]
    if methods:
        notes.insert(0, f"Learned pdf ({', '.join(methods)}): RooLearnedRatio {how}.")
    if prob.reference_point:
        notes.append(
            f"Reference: the simulator at {point_text(prob.reference_point)}; the learned pdf is r(x|theta) times "
            f"the observed-level density there ('{prob.reference_pdf}')."
        )
    notes.append(
        f"Morphing: RooMomentMorphFuncND ({morph_setting}), {n_templates ** len(prob.parameters)} templates of "
        f"{n_template} events ({n_templates} per parameter)."
    )
    return pdfs, notes


def term_pdfs(prob: Problem, learned: list[Learned], terms, normalize: bool, n_bins: int):
    """Each method's pdf extended with sigma(theta) L, and the polynomial term morph; names and notes."""
    ws = prob.workspace
    observables = [prob.var(n) for n in prob.observables]
    pdfs = {"analytic": prob.target_pdf}
    for item in learned:
        if item.method == "sally":
            name = "sally_pdf" if item.key == "learned" else f"sally_pdf_{item.method}"
            item.pdf = pdfs[item.key] = term_stages.sally_pdf(prob, terms, item.estimator, n_bins, name=name)
            continue
        name = "learned_pdf" if item.key == "learned" else f"learned_pdf_{item.method}"
        pdf = learned_pdf(item.ratio, observables, ws.pdf(prob.reference_pdf), name=name, normalize=normalize)
        ws.Import(pdf, Silence=True)
        item.pdf = pdfs[item.key] = term_stages.extend(prob, name)
    pdfs["morphed"] = term_stages.morph_pdf(prob, terms, n_bins)
    how = "normalised over x" if normalize else "self-normalised"
    notes = [
        f"Generator term sample: {len(terms)} events with {terms.weights.shape[1]} term weights each "
        f"({', '.join(terms.term_names)}); training events drawn from it at theta from the prior, with the joint "
        "ratio and score computed from the weights.",
        f"Learned pdf: RooLearnedRatio times the reference density ('{prob.reference_pdf}'), {how}, in a RooExtendPdf "
        f"with the expected events sigma(theta) L ('{prob.components['expected_events']}').",
        f"Morphing: the polynomial term morph, sum_i c_i(theta) L T_i(x) over {n_bins} bins (extended RooRealSumPdf "
        "of RooHistFunc term templates); every fit starts from a grid scan (polynomial likelihoods have several "
        "minima).",
    ]
    return pdfs, notes


def point_text(point: dict[str, float]) -> str:
    """``"mu = 2, s = 1"``: a parameter point for the report."""
    return ", ".join(f"{name} = {value:g}" for name, value in point.items())


def sally_template_pdf(
    prob: Problem, item: Learned, morph_setting: str, n_templates: int, n_train: int, seed: int
) -> str:
    """SALLY's template fit: t(x) histograms at grid points, morphed in theta, in the workspace."""
    name = "sally_pdf" if item.key == "learned" else f"sally_pdf_{item.method}"
    score_morphed_pdf(
        prob,
        item.estimator,
        n_templates=n_templates,
        n_events=n_train // n_templates,
        setting=morph_setting,
        seed=seed,
        name=name,
    )
    item.pdf = name
    return name


def calibrate_mixture(ratio, held_out, method: str) -> RatioCalibration:
    """Fit ``method``'s calibration of r on the held-out events and set it on ``ratio``."""
    raw = evaluate_log_ratio(ratio, held_out.x, calibrated=False)
    calibration = fit_calibration(raw, held_out.y, held_out.weights, method=method)
    calibration.apply(ratio)
    return calibration


def mixture_pdfs(
    prob: Problem, ratio, sample, n_bins: int, held_out, calibration: str
) -> tuple[dict[str, str], list[str], RatioCalibration]:
    """The learned mixture pdf (its r calibrated) and the score template baseline; names, notes, calibration."""
    ws = prob.workspace
    comp = prob.components
    cal = calibrate_mixture(ratio, held_out, calibration)
    mu = prob.var(prob.parameters[0])
    pdf = mixture_pdf(ratio, mu, ws.var(comp["n_signal"]), ws.var(comp["n_background"]), name="learned_pdf")
    ws.Import(pdf, Silence=True)
    template_pdf(prob, ratio, sample, n_bins=n_bins, name="template_pdf")
    n_signal, n_background = ws.var(comp["n_signal"]).getVal(), ws.var(comp["n_background"]).getVal()
    share = len(held_out) / (len(held_out) + len(sample))
    notes = [
        f"Mixture (rf618): S = {n_signal:g} signal events at mu = 1, B = {n_background:g} background events; "
        "the classifier learns r(x) = p_s(x)/p_b(x) with no parameter input.",
        "Learned pdf: f(x|mu) = (mu S r(x) + B)/(mu S + B), RooWrapperPdf (self-normalised) in a RooExtendPdf with "
        "mu S + B expected events: the NLL is mu S + B - sum log(mu S r(x_i) + B) + const, the mixture likelihood.",
        f"Calibration ({cal.method}): {share:.0%} of the training events ({cal.n_target} signal, {cal.n_reference} "
        f"background) held out from the network. Normalisation check E_b[r] over the held-out background = "
        f"{cal.before.mean:.4f} +- {cal.before.error:.4f} (1 for the exact ratio; a factor c makes the mixture "
        f"density integrate to (mu S c + B)/(mu S + B) and moves mu); correction applied: r / {cal.correction:.4f} "
        "(shrunk toward 1 by its statistical error), stored in the RooLearnedRatio.",
        f"Template baseline: {n_bins} equal bins of the score r/(1+r) in [0, 1] filled with the training sample "
        "(+1 per bin), RooHistPdf templates, extended RooAddPdf mu S T_s + B T_b fitted to the observed scores.",
    ]
    return {"analytic": prob.target_pdf, "learned": "learned_pdf", "template": "template_pdf"}, notes, cal


def member_pdf(prob: Problem, item: Learned, k: int, normalize: bool, is_mixture: bool, calibration=None):
    """Ensemble member ``k`` of a ratio method as its own RooLearnedRatio and learned pdf, not imported.

    The pdf is built as the method's main learned pdf is (:func:`morphing_pdfs`, :func:`mixture_pdfs`):
    r p_ref with the same normalisation, or the mixture (mu S r + B)/(mu S + B) with r calibrated
    on the same held-out events (``calibration``: ``(held_out, method)``). Nothing enters the
    workspace, so the member fits stay out of workspace.root and of its marked fits.

    Returns
    -------
    tuple
        The pdf and the ratio (keep both alive while the pdf is used).
    """
    ws = prob.workspace
    name = f"{item.key}_member{k}"
    ratio = learned_ratio(item.estimator.member_onnx_model(k), workspace=ws, name=f"{name}_ratio")
    if is_mixture:
        held_out, method = calibration
        calibrate_mixture(ratio, held_out, method)  # as the main ratio: its own, on the same events
        comp = prob.components
        mu = prob.var(prob.parameters[0])
        pdf = mixture_pdf(ratio, mu, ws.var(comp["n_signal"]), ws.var(comp["n_background"]), name=f"{name}_pdf")
    else:
        observables = [prob.var(n) for n in prob.observables]
        pdf = learned_pdf(ratio, observables, ws.pdf(prob.reference_pdf), name=f"{name}_pdf", normalize=normalize)
    return pdf, ratio
