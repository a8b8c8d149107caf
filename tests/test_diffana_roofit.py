"""roosbi.diffana's binned model as a HistFactory workspace: the same expected counts as torch, and the torch
profile fit inside the training loop against Minuit on the same model."""

import numpy as np
import pytest
import torch

from roosbi.diffana import (
    BinnedModel,
    Process,
    Sample,
    fit,
    get_objective,
    histfactory_workspace,
    minuit_fit,
    roofit_expected,
    roofit_parameter_name,
    train_summary,
)
from roosbi.exceptions import InputError

F64 = torch.float64


def model_with_systematics(normsys_code=4, histosys_code=4, staterror=False):
    """With ``staterror`` both samples carry MC uncertainties: gammas in bins 0 and 1 (bin 2's 2 % is below 5 %)."""
    sig = np.array([5.0, 3.0, 1.0])
    bkg = np.array([5.0, 20.0, 40.0])
    return BinnedModel(
        [
            Sample(
                "signal",
                sig,
                signal=True,
                normsys={"sig_eff": (0.97, 1.02)},
                staterror=[0.3, 0.5, 0.2] if staterror else None,
            ),
            Sample(
                "background",
                bkg,
                normsys={"bkg_norm": (0.9, 1.15)},
                histosys={"bkg_shape": (bkg * [1.1, 1.0, 0.9], bkg * [0.85, 1.0, 1.12])},
                staterror=[1.5, 2.0, 1.0] if staterror else None,
            ),
        ],
        normsys_code=normsys_code,
        histosys_code=histosys_code,
        edges=[0.0, 0.3, 0.6, 1.0],
    )


def set_parameters(ws, model, values):
    for name, value in zip(model.parameters, values, strict=True):
        ws.var(roofit_parameter_name(model, name)).setVal(value)


@pytest.mark.parametrize(("normsys_code", "histosys_code"), [(4, 4), (1, 0)])
def test_workspace_has_the_expected_counts_of_the_torch_model(normsys_code, histosys_code):
    model = model_with_systematics(normsys_code, histosys_code)
    ws = histfactory_workspace(model)
    mc = ws.genobj("ModelConfig")
    assert [p.GetName() for p in mc.GetParametersOfInterest()] == ["mu"]
    assert sorted(p.GetName() for p in mc.GetNuisanceParameters()) == [
        "alpha_bkg_norm",
        "alpha_bkg_shape",
        "alpha_sig_eff",
    ]
    for values in ([1.0, 0.0, 0.0, 0.0], [1.3, 0.4, -0.7, 1.5], [0.7, -1.2, 0.2, -0.5], [2.0, 2.5, -1.8, 0.9]):
        set_parameters(ws, model, values)
        expected = model.expected(torch.tensor(values, dtype=F64)).numpy()
        np.testing.assert_allclose(roofit_expected(ws), expected, rtol=1e-12)


def test_staterror_workspace_has_the_expected_counts_of_the_torch_model():
    model = model_with_systematics(staterror=True)
    ws = histfactory_workspace(model)
    floating = [p.GetName() for p in ws.genobj("ModelConfig").GetNuisanceParameters() if not p.isConstant()]
    assert sorted(floating) == [
        "alpha_bkg_norm",
        "alpha_bkg_shape",
        "alpha_sig_eff",
        "gamma_stat_channel_bin_0",
        "gamma_stat_channel_bin_1",
    ]
    assert roofit_parameter_name(model, "stat_bin_1") == "gamma_stat_channel_bin_1"
    for values in ([1.0, 0.0, 0.0, 0.0, 1.0, 1.0], [1.3, 0.4, -0.7, 1.5, 1.12, 0.93]):
        set_parameters(ws, model, values)
        expected = model.expected(torch.tensor(values, dtype=F64)).numpy()
        np.testing.assert_allclose(roofit_expected(ws), expected, rtol=1e-12)


@pytest.mark.parametrize("staterror", [False, True])
def test_profile_fit_matches_minuit(staterror):
    model = model_with_systematics(staterror=staterror)
    data = np.array([14.0, 21.0, 38.0])
    ws = histfactory_workspace(model, data)
    for fixed in ({}, {"mu": 0.0}, {"mu": 2.5}):
        ours = fit(model, torch.tensor(data, dtype=F64), fixed=fixed)
        assert ours.converged
        minuit = minuit_fit(ws, fixed=fixed)
        assert minuit.status == 0
        for name, value in ours.values(model).items():
            if name in fixed:
                continue
            par = minuit.params[roofit_parameter_name(model, name)]
            # Minuit stops at EDM ~ 1e-5 (roosbi's tolerance): within half a percent of an error of the minimum
            assert value == pytest.approx(par.value, abs=0.005 * par.error), name
    # the profiled NLL difference (q0) agrees to the precision of Minuit's minima
    q0_ours = 2 * float(fit(model, data, fixed={"mu": 0.0}).nll - fit(model, data).nll)
    q0_minuit = 2 * (minuit_fit(ws, fixed={"mu": 0.0}).nll_min - minuit_fit(ws).nll_min)
    assert q0_ours == pytest.approx(q0_minuit, abs=2e-5)
    assert q0_ours > 1.0


def q0_of(model, data):
    return 2 * (fit(model, data, fixed={"mu": 0.0}).nll - fit(model, data).nll)


def test_implicit_gradient_of_q0_matches_minuit_finite_differences():
    """d q0 / d (a background bin) through the torch fits, against central differences of Minuit's q0."""
    sig, bkg = np.array([5.0, 3.0, 1.0]), np.array([5.0, 20.0, 40.0])
    data = np.array([14.0, 21.0, 38.0])

    def model_of(b):
        return BinnedModel([Sample("s", sig, signal=True), Sample("b", b, normsys={"n": (0.9, 1.15)})])

    b = torch.tensor(bkg, dtype=F64, requires_grad=True)
    (gradient,) = torch.autograd.grad(q0_of(model_of(b), data), b)

    def minuit_q0(b):
        ws = histfactory_workspace(model_of(b), data)
        return 2 * (minuit_fit(ws, fixed={"mu": 0.0}).nll_min - minuit_fit(ws).nll_min)

    h = 0.05
    for i in (0, 2):
        up, down = bkg.copy(), bkg.copy()
        up[i] += h
        down[i] -= h
        finite = (minuit_q0(up) - minuit_q0(down)) / (2 * h)
        assert float(gradient[i]) == pytest.approx(finite, rel=2e-3, abs=1e-4)


@pytest.mark.parametrize("staterror", [False, True])
def test_trained_summary_ends_in_a_workspace_with_the_same_significance(staterror):
    rng = np.random.default_rng(4)
    sig, bkg = rng.normal(1.0, 1.0, (200, 2)), rng.normal(-1.0, 1.0, (400, 2))
    processes = [
        Process("signal", sig, 0.1, signal=True),
        Process(
            "background",
            bkg,
            0.25,
            normsys={"norm": (0.9, 1.1)},
            histosys={"shift": (bkg - 0.3, bkg + 0.3)},
            staterror=staterror,
        ),
    ]
    result = train_summary(processes, bins=3, steps=5, learning_rate=0.02, device="cpu", progress=False)
    model = result.binned_model(processes)
    assert model.edges.tolist() == pytest.approx([0.0, 1 / 3, 2 / 3, 1.0])
    ws = histfactory_workspace(model)  # Asimov data at mu = 1
    unconditional = minuit_fit(ws)
    assert unconditional.params["mu"].value == pytest.approx(1.0, abs=1e-3)
    q0 = 2 * (minuit_fit(ws, fixed={"mu": 0.0}).nll_min - unconditional.nll_min)
    with torch.no_grad():
        z0 = float(get_objective("asimov_significance").value(model))
    assert np.sqrt(q0) == pytest.approx(z0, rel=1e-3)


def test_workspace_refuses_bad_input():
    model = model_with_systematics()
    with pytest.raises(InputError, match="edges"):
        histfactory_workspace(model, edges=[0.0, 1.0])
    with pytest.raises(InputError, match="data"):
        histfactory_workspace(model, data=[1.0, 2.0])
    with pytest.raises(InputError, match="unknown parameter"):
        roofit_parameter_name(model, "alpha")
