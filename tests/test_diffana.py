"""roosbi.diffana: each differentiable block against its hard limit and finite differences, the fit, the objectives,
a short neos training and the soft-cut optimum against a hard-cut scan."""

import math
import time

import numpy as np
import pytest
import torch
from scipy import stats

from roosbi.diffana import (
    OBJECTIVES,
    BinnedModel,
    Process,
    Sample,
    bkde_histogram,
    cut_model,
    fit,
    get_objective,
    hard_cut,
    hard_histogram,
    histosys_shape,
    normsys_factor,
    optimize_cuts,
    profile_nll,
    scan_cuts,
    soft_cut,
    train_summary,
)
from roosbi.diffana.train import _batch, _update, binned_model, prepare_processes
from roosbi.exceptions import InputError

F64 = torch.float64


def t64(values, grad=False):
    return torch.tensor(values, dtype=F64, requires_grad=grad)


# ---------------------------------------------------------------- blocks


@pytest.mark.parametrize("keep", ["above", "below"])
def test_soft_cut_tends_to_the_step_function(keep):
    x = torch.linspace(-2, 2, 401, dtype=F64)
    x = x[(x - 0.3).abs() > 0.02]
    step = hard_cut(x, 0.3, keep)
    errors = [float((soft_cut(x, 0.3, t, keep) - step).abs().max()) for t in (0.1, 0.01, 0.001)]
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 1e-8
    assert float(soft_cut(t64([0.3]), 0.3, 1e-4, keep)) == pytest.approx(0.5)


def test_soft_cut_gradients_match_finite_differences():
    x = t64(np.random.default_rng(1).normal(size=7), grad=True)
    cut = t64(0.2, grad=True)
    for keep in ("above", "below"):
        assert torch.autograd.gradcheck(lambda a, c, k=keep: soft_cut(a, c, 0.3, k), (x, cut))


@pytest.mark.parametrize("temperature", [0.0, -1.0, float("nan"), "warm"])
def test_soft_cut_refuses_a_bad_temperature(temperature):
    with pytest.raises(InputError, match="temperature"):
        soft_cut(t64([0.0]), 0.0, temperature)
    with pytest.raises(InputError, match="keep"):
        soft_cut(t64([0.0]), 0.0, 0.1, keep="inside")


@pytest.mark.parametrize("flow", [True, False])
def test_bkde_histogram_tends_to_the_hard_histogram(flow):
    rng = np.random.default_rng(2)
    edges = np.array([0.0, 0.2, 0.5, 0.6, 1.0])
    x = rng.uniform(-0.2, 1.2, 500)
    x = x[np.min(np.abs(x[:, None] - edges[None, :]), axis=1) > 1e-3]  # no event on an edge
    w = rng.uniform(0.5, 2.0, x.size)
    xt, wt = t64(x), t64(w)
    hard = hard_histogram(xt, edges, wt, flow=flow)
    if not flow:
        np.testing.assert_allclose(hard.numpy(), np.histogram(x, edges, weights=w)[0], rtol=1e-12)
    assert float(hard.sum()) == pytest.approx(w.sum() if flow else w[(x >= 0) & (x <= 1)].sum())
    previous = math.inf
    for bandwidth in (0.3, 0.03, 1e-4):
        error = float((bkde_histogram(xt, edges, bandwidth, wt, flow=flow) - hard).abs().max())
        assert error < previous
        previous = error
    assert previous < 1e-9
    # with flow every event keeps its whole weight, at any bandwidth
    assert float(bkde_histogram(xt, edges, 2.0, wt).sum()) == pytest.approx(w.sum(), rel=1e-12)


def test_bkde_histogram_gradients_match_finite_differences():
    rng = np.random.default_rng(3)
    x = t64(rng.uniform(0, 1, 9), grad=True)
    w = t64(rng.uniform(0.5, 1.5, 9), grad=True)
    for flow in (True, False):
        assert torch.autograd.gradcheck(lambda a, b, f=flow: bkde_histogram(a, [0, 0.3, 0.7, 1], 0.5, b, f), (x, w))


def test_histograms_refuse_bad_input():
    x = t64([0.1, 0.5])
    for bandwidth in (0.0, -0.5, float("inf")):
        with pytest.raises(InputError, match="bandwidth"):
            bkde_histogram(x, [0, 0.5, 1], bandwidth)
    for edges in ([0, 1, 0.5], [0.0], [0, float("nan")]):
        with pytest.raises(InputError, match="edges"):
            bkde_histogram(x, edges, 0.5)
    with pytest.raises(InputError, match="weights"):
        hard_histogram(x, [0, 1], weights=[1.0])


# ---------------------------------------------------------------- interpolation and the binned model


@pytest.mark.parametrize("code", [1, 4])
def test_normsys_factor_hits_kappas_and_extrapolates_exponentially(code):
    kd, ku = 0.8, 1.3
    for alpha, expected in [(-1, kd), (0, 1.0), (1, ku), (2.5, ku**2.5), (-1.7, kd**1.7)]:
        assert float(normsys_factor(t64(alpha), kd, ku, code)) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("code", [0, 4])
def test_histosys_shape_hits_templates_and_extrapolates_linearly(code):
    nominal, down, up = t64([10.0, 5.0]), t64([8.0, 6.0]), t64([13.0, 4.5])
    for alpha, expected in [(-1, down), (0, nominal), (1, up), (2, nominal + 2 * (up - nominal))]:
        torch.testing.assert_close(histosys_shape(t64(alpha), nominal, down, up, code), expected)
    torch.testing.assert_close(histosys_shape(t64(-3.0), nominal, down, up, code), nominal - 3 * (nominal - down))


def test_code_4_is_smooth_where_codes_0_and_1_kink():
    nominal, down, up = t64([10.0]), t64([8.0]), t64([13.0])

    def slope(f, a):
        a = t64(a, grad=True)
        (g,) = torch.autograd.grad(f(a).sum(), a)
        return float(g)

    for point in (-1.0, 1.0):  # the polynomial meets the extrapolation with the same slope
        for f in (lambda a: normsys_factor(a, 0.8, 1.3, 4), lambda a: histosys_shape(a, nominal, down, up, 4)):
            assert slope(f, point - 1e-9) == pytest.approx(slope(f, point + 1e-9), rel=1e-6)
    assert slope(lambda a: normsys_factor(a, 0.8, 1.3, 4), -1e-9) == pytest.approx(
        slope(lambda a: normsys_factor(a, 0.8, 1.3, 4), 1e-9), rel=1e-6
    )
    assert slope(lambda a: normsys_factor(a, 0.8, 1.3, 1), -1e-9) != pytest.approx(
        slope(lambda a: normsys_factor(a, 0.8, 1.3, 1), 1e-9), rel=1e-3
    )


@pytest.mark.parametrize("code", [4, 1])
def test_interpolation_gradients_match_finite_differences(code):
    alphas = [t64(a, grad=True) for a in (-1.6, -0.4, 0.3, 0.99, 1.8)]
    kd, ku = t64(0.85, grad=True), t64(1.2, grad=True)
    nominal, down, up = t64([10.0, 3.0], True), t64([8.0, 3.5], True), t64([12.5, 2.0], True)
    hcode = 4 if code == 4 else 0
    for a in alphas:
        assert torch.autograd.gradcheck(lambda x, d, u: normsys_factor(x, d, u, code), (a, kd, ku))
        assert torch.autograd.gradcheck(lambda x, n, d, u: histosys_shape(x, n, d, u, hcode), (a, nominal, down, up))


def two_bin_model(sig=(5.0, 3.0, 1.0), bkg=(5.0, 20.0, 40.0), **codes):
    sig, bkg = torch.as_tensor(sig, dtype=F64), torch.as_tensor(bkg, dtype=F64)
    return BinnedModel(
        [
            Sample("signal", sig, signal=True),
            Sample(
                "background",
                bkg,
                normsys={"norm": (0.9, 1.15)},
                histosys={"shape": (bkg * t64([1.1, 1.0, 0.9]), bkg * t64([0.85, 1.0, 1.12]))},
            ),
        ],
        **codes,
    )


def test_binned_model_counts_and_nll():
    model = two_bin_model()
    assert model.parameters == ["mu", "norm", "shape"]
    torch.testing.assert_close(model.asimov(1.0), t64([10.0, 23.0, 41.0]))
    torch.testing.assert_close(model.asimov(0.0), t64([5.0, 20.0, 40.0]))
    data = t64([12.0, 25.0, 37.0])
    p1, p2 = t64([1.3, 0.4, -0.5]), t64([0.6, -0.2, 0.8])
    # NLL differences are those of Poisson counts times unit Gaussian constraints
    exact = [
        -stats.poisson.logpmf(data.numpy(), model.expected(p).numpy()).sum() - stats.norm.logpdf(p[1:].numpy()).sum()
        for p in (p1, p2)
    ]
    assert float(model.nll(p1, data) - model.nll(p2, data)) == pytest.approx(exact[0] - exact[1], rel=1e-10)
    pars = t64([1.3, 0.4, -0.5], grad=True)
    assert torch.autograd.gradcheck(lambda p: model.nll(p, data), (pars,))


def test_binned_model_refuses_bad_input():
    with pytest.raises(InputError, match="different binning"):
        BinnedModel([Sample("s", [1.0, 2.0], signal=True), Sample("b", [1.0, 2.0, 3.0])])
    with pytest.raises(InputError, match="different binning"):
        BinnedModel([Sample("s", [1.0, 2.0], signal=True, histosys={"h": ([1.0, 2.0], [1.0])})])
    with pytest.raises(InputError, match="kappa"):
        BinnedModel([Sample("s", [1.0], signal=True, normsys={"n": (0.0, 1.1)})])
    with pytest.raises(InputError, match="signal=True"):
        BinnedModel([Sample("b", [1.0])])
    with pytest.raises(InputError, match="negative"):
        BinnedModel([Sample("s", [-1.0], signal=True)])
    with pytest.raises(InputError, match="unique"):
        BinnedModel([Sample("s", [1.0], signal=True), Sample("s", [1.0])])
    with pytest.raises(InputError, match="normsys_code"):
        BinnedModel([Sample("s", [1.0], signal=True)], normsys_code=2)
    with pytest.raises(InputError, match="edges"):
        BinnedModel([Sample("s", [1.0, 2.0], signal=True)], edges=[0, 1])


def staterror_model(sig=(5.0, 3.0, 1.0), bkg=(5.0, 20.0, 40.0), errors=(1.5, 2.0, 1.0), threshold=0.05):
    return BinnedModel(
        [
            Sample("signal", torch.as_tensor(sig, dtype=F64), signal=True, staterror=[0.3, 0.5, 0.2]),
            Sample("background", torch.as_tensor(bkg, dtype=F64), normsys={"norm": (0.9, 1.15)}, staterror=errors),
        ],
        staterror_threshold=threshold,
    )


def test_staterror_gammas_are_histfactorys():
    model = staterror_model()
    # sigma_b = sqrt(sum of squared errors) / sum of nominals; bin 2's 0.022 is below the 0.05 threshold
    sigma = np.hypot([0.3, 0.5, 0.2], [1.5, 2.0, 1.0]) / np.array([10.0, 23.0, 41.0])
    assert model.parameters == ["mu", "norm", "stat_bin_0", "stat_bin_1"]
    np.testing.assert_allclose(model.stat_sigma.numpy(), sigma[:2], rtol=1e-14)
    assert staterror_model(threshold=0.01).parameters[-1] == "stat_bin_2"
    pars = t64([1.2, 0.3, 1.1, 0.95])
    gamma = np.array([1.1, 0.95, 1.0])
    norm = float(normsys_factor(t64(0.3), 0.9, 1.15))
    expected = gamma * np.array([6.0, 3.6, 1.2]) + gamma * np.array([5.0, 20.0, 40.0]) * norm
    np.testing.assert_allclose(model.expected(pars).numpy(), expected, rtol=1e-14)
    # NLL differences: Poisson counts, a unit Gaussian for alpha, Gaussians of width sigma_b around 1 for the gammas
    data = t64([12.0, 25.0, 37.0])

    def exact(p):
        p = p.numpy()
        return (
            -stats.poisson.logpmf(data.numpy(), model.expected(t64(p)).numpy()).sum()
            - stats.norm.logpdf(p[1])
            - stats.norm.logpdf(p[2:], 1.0, sigma[:2]).sum()
        )

    other = t64([0.8, -0.5, 0.9, 1.05])
    assert float(model.nll(pars, data) - model.nll(other, data)) == pytest.approx(exact(pars) - exact(other), rel=1e-10)
    torch.testing.assert_close(model.nominal_parameters(0.5), t64([0.5, 0.0, 1.0, 1.0]))
    # gradients through the gammas' widths (a summary learns from them) and through the fit
    errors = t64([1.5, 2.0, 1.0], grad=True)
    assert torch.autograd.gradcheck(lambda e: staterror_model(errors=e).nll(pars, data), (errors,))
    assert torch.autograd.gradcheck(lambda e: fit(staterror_model(errors=e), data).pars, (errors,))


def test_staterror_lowers_the_significance_of_the_same_templates():
    with torch.no_grad():
        exact = get_objective("asimov_significance").value(two_bin_model())
        uncertain = get_objective("asimov_significance").value(
            BinnedModel(
                [
                    Sample("signal", [5.0, 3.0, 1.0], signal=True),
                    Sample(
                        "background",
                        t64([5.0, 20.0, 40.0]),
                        normsys={"norm": (0.9, 1.15)},
                        histosys={"shape": (t64([5.5, 20.0, 36.0]), t64([4.25, 20.0, 44.8]))},
                        staterror=[2.0, 4.0, 6.0],
                    ),
                ]
            )
        )
    assert float(uncertain) < float(exact) - 0.05


def test_staterror_refuses_bad_input():
    with pytest.raises(InputError, match="different binning"):
        BinnedModel([Sample("s", [1.0, 2.0], signal=True, staterror=[0.1])])
    with pytest.raises(InputError, match="negative"):
        BinnedModel([Sample("s", [1.0, 2.0], signal=True, staterror=[0.1, -0.2])])
    with pytest.raises(InputError, match="NaN"):
        BinnedModel([Sample("s", [1.0, 2.0], signal=True, staterror=[0.1, np.nan])])
    for threshold in (0.0, -0.1, np.inf):
        with pytest.raises(InputError, match="staterror_threshold"):
            BinnedModel([Sample("s", [1.0], signal=True)], staterror_threshold=threshold)


# ---------------------------------------------------------------- the profile fit


def test_fit_finds_the_minimum_and_holds_fixed_parameters():
    model = two_bin_model()
    data = t64([14.0, 21.0, 38.0])
    full = fit(model, data)
    assert full.converged
    pars = full.pars.detach().requires_grad_(True)
    (gradient,) = torch.autograd.grad(model.nll(pars, data), pars)
    assert float(gradient.abs().max()) < 1e-8
    profiled = fit(model, data, fixed={"mu": 0.0})
    assert profiled.converged and float(profiled.pars[0]) == 0.0
    assert float(profiled.nll) > float(full.nll)
    assert float(profile_nll(model, data, 0.0)) == pytest.approx(float(profiled.nll), rel=1e-14)
    with torch.no_grad():  # the fit needs derivatives inside, also under no_grad
        torch.testing.assert_close(fit(model, data).pars, full.pars.detach())


def test_fit_leaves_a_saddle_of_the_profile_nll():
    """Both histosys templates above the nominal in a bin with little background: the NLL at mu = 0 is concave at
    alpha = 0 (Hessian -54). A damped Newton step there was ~1e15 and the fit stopped at 0; the minimum is at -2.07."""
    model = BinnedModel(
        [
            Sample("s", [5.0, 2.0], signal=True),
            Sample("b", [0.03, 10.0], histosys={"h": ([0.134, 10.5], [0.105, 9.6])}),
        ]
    )
    data = model.asimov(1.0)
    result = fit(model, data, fixed={"mu": 0.0})
    assert result.converged
    grid = np.linspace(-6.0, 6.0, 12001)
    nll = [float(model.nll(t64([0.0, a]), data)) for a in grid]
    assert float(result.pars[1]) == pytest.approx(grid[int(np.argmin(nll))], abs=2e-3)
    assert float(result.nll) <= min(nll) + 1e-9


def test_a_step_with_a_non_finite_objective_is_skipped():
    weight = torch.nn.Parameter(t64([1.0]))
    optimizer = torch.optim.Adam([weight], lr=0.1)
    assert not _update(optimizer, (weight * math.nan).sum())
    assert not _update(optimizer, torch.sqrt(weight - 1.0).sum())  # a finite loss, an infinite gradient
    assert float(weight.detach()) == 1.0
    assert _update(optimizer, (weight**2).sum())
    assert float(weight.detach()) < 1.0


def test_fit_implicit_gradients_match_finite_differences():
    sig, bkg = t64([5.0, 3.0, 1.0], True), t64([5.0, 20.0, 40.0], True)
    data = t64([14.0, 21.0, 38.0], True)
    assert torch.autograd.gradcheck(lambda s, b, d: fit(two_bin_model(s, b), d).pars, (sig, bkg, data))
    assert torch.autograd.gradcheck(
        lambda s, b, d: fit(two_bin_model(s, b), d, fixed={"mu": 0.0}).pars, (sig, bkg, data)
    )
    assert torch.autograd.gradcheck(lambda s, b, d: profile_nll(two_bin_model(s, b), d, 0.5), (sig, bkg, data))


# ---------------------------------------------------------------- objectives


def test_objectives_match_closed_forms_without_nuisances():
    s, b = 10.0, 50.0
    model = BinnedModel([Sample("s", [s], signal=True), Sample("b", [b])])
    z0 = math.sqrt(2 * ((s + b) * math.log(1 + s / b) - s))
    q_a = 2 * (s - b * math.log(1 + s / b))
    with torch.no_grad():
        assert float(get_objective("asimov_significance").value(model)) == pytest.approx(z0, rel=1e-10)
        assert float(get_objective("discovery_pvalue").value(model)) == pytest.approx(stats.norm.sf(z0), rel=1e-8)
        assert float(get_objective("cls").value(model)) == pytest.approx(2 * stats.norm.sf(math.sqrt(q_a)), rel=1e-8)
    assert float(get_objective("inverse_fisher_mu").value(model)) == pytest.approx((s + b) / s**2, rel=1e-10)
    # a background uncertainty costs sensitivity
    syst = BinnedModel([Sample("s", [s], signal=True), Sample("b", [b], normsys={"n": (0.8, 1.2)})])
    assert float(get_objective("asimov_significance").value(syst)) < z0
    assert float(get_objective("inverse_fisher_mu").value(syst)) > (s + b) / s**2


@pytest.mark.parametrize("name", sorted(OBJECTIVES))
def test_objective_gradients_match_finite_differences(name):
    sig, bkg = t64([5.0, 3.0, 1.0], True), t64([5.0, 20.0, 40.0], True)
    objective = get_objective(name)
    assert torch.autograd.gradcheck(lambda s, b: objective.value(two_bin_model(s, b)), (sig, bkg))


def test_an_unknown_objective_is_a_clear_error():
    with pytest.raises(InputError, match="unknown objective 'significance'.*asimov_significance"):
        get_objective("significance")
    with pytest.raises(InputError, match="did you mean 'cls'"):
        get_objective("CLs")


# ---------------------------------------------------------------- training


def gaussian_processes(n=300, seed=0):
    rng = np.random.default_rng(seed)
    sig = rng.normal([1.0, 0.5], 1.0, (n, 2))
    bkg = rng.normal([-1.0, -0.5], 1.2, (2 * n, 2))
    return [
        Process("signal", sig, 15.0 / n, signal=True),
        Process(
            "background",
            bkg,
            150.0 / (2 * n),
            normsys={"bkg_norm": (0.95, 1.05)},
            histosys={"bkg_shift": (bkg - 0.2, bkg + 0.2)},
        ),
    ]


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"objective": "significance"}, "unknown objective"),
        ({"bandwidth": 0.0}, "bandwidth"),
        ({"bandwidth": -1.0}, "bandwidth"),
        ({"bins": 0}, "bins"),
        ({"device": "tpu"}, "device"),
        ({"objective_options": {"mu_tset": 2.0}}, "objective_options"),
        ({"learning_rate": 0.0}, "learning_rate"),
    ],
)
def test_train_summary_refuses_bad_input_before_training(change, match):
    start = time.perf_counter()
    with pytest.raises(InputError, match=match):
        train_summary(gaussian_processes(50), **{"steps": 10_000, "progress": False, **change})
    assert time.perf_counter() - start < 2  # no training step ran


def test_processes_are_checked_before_training():
    good = gaussian_processes(50)
    sig, bkg = good[0], good[1]
    bad_shape = Process("background", bkg.events, 1.0, histosys={"s": (bkg.events[:, :1], bkg.events)})
    bad_kappa = Process("background", bkg.events, 1.0, normsys={"n": (-0.1, 1.1)})
    for processes, match in [
        ([sig, bad_shape], "features"),
        ([sig, bad_kappa], "kappa"),
        ([bkg], "signal=True"),
        ([sig, Process("b", np.full((3, 2), np.nan))], "NaN"),
    ]:
        for run in (train_summary, lambda p, **k: optimize_cuts(p, [0.0], **k)):
            with pytest.raises(InputError, match=match):
                run(processes, steps=10_000, progress=False)


def test_neos_training_improves_its_objective():
    processes = gaussian_processes(300)
    result = train_summary(
        processes, objective="cls", bins=3, steps=25, learning_rate=0.02, seed=1, device="cpu", progress=False
    )
    assert len(result.history) == 25
    assert result.history[-1] < 0.5 * result.history[0]
    # the hard histograms of the trained summary keep most of the gain
    with torch.no_grad():
        hard = float(get_objective("cls").value(result.binned_model(processes)))
    assert hard < 0.7 * result.history[0]
    with torch.no_grad():
        soft = float(get_objective("cls").value(result.binned_model(processes, soft=True)))
    assert soft == pytest.approx(result.history[-1], rel=0.2)
    assert result.summary(np.zeros((4, 2))).shape == (4,)


def test_training_is_seeded():
    processes = gaussian_processes(100)
    kwargs = {"steps": 3, "bins": 2, "batch_size": 64, "device": "cpu", "progress": False}
    a = train_summary(processes, seed=5, **kwargs)
    b = train_summary(processes, seed=5, **kwargs)
    c = train_summary(processes, seed=6, **kwargs)
    assert a.history == b.history
    assert a.history != c.history
    for pa, pb in zip(a.network.parameters(), b.network.parameters(), strict=True):
        torch.testing.assert_close(pa, pb, rtol=0, atol=0)


def test_cut_model_with_a_cold_sigmoid_is_the_hard_cut():
    processes = gaussian_processes(200)
    hard = cut_model(processes, [0.3, -0.2], keep=["above", "below"])
    soft = cut_model(processes, [0.3, -0.2], keep=["above", "below"], temperature=1e-7)
    for h, s in zip(hard.samples, soft.samples, strict=True):
        torch.testing.assert_close(s.nominal, h.nominal)
        for key in h.histosys:
            torch.testing.assert_close(s.histosys[key], h.histosys[key])
    assert 1.0 < float(hard.samples[0].nominal) < 15.0


def test_staterror_of_processes_is_the_square_root_of_the_sum_of_squared_weights():
    rng = np.random.default_rng(3)
    sig, bkg = rng.normal(1.0, 1.0, 400), rng.normal(-1.0, 1.0, 600)
    w_sig, w_bkg = rng.uniform(0.01, 0.1, 400), 0.2
    processes = [
        Process("signal", sig, w_sig, signal=True, staterror=True),
        Process("background", bkg, w_bkg, normsys={"n": (0.9, 1.1)}, staterror=True),
    ]
    model = cut_model(processes, [0.5])  # one bin: the events above the cut
    np.testing.assert_allclose(float(model.samples[0].staterror[0]), np.sqrt((w_sig[sig > 0.5] ** 2).sum()), rtol=1e-12)
    np.testing.assert_allclose(float(model.samples[1].staterror[0]), np.sqrt((bkg > 0.5).sum()) * w_bkg, rtol=1e-12)
    # no background event passes: its uncertainty is one event's, not 0
    assert float(cut_model(processes, [20.0]).samples[1].staterror[0]) == pytest.approx(w_bkg, rel=1e-12)
    # a batch of a third of the events, its weights scaled up: with one weight per event sum w^2 is exact
    prepared = prepare_processes(processes)
    generator = torch.Generator().manual_seed(0)
    batched = binned_model(prepared, lambda x, w: w.sum().reshape(1), draw=lambda x, w: _batch(x, w, 200, generator))
    assert float(batched.samples[1].staterror[0]) == pytest.approx(np.sqrt(600) * w_bkg, rel=1e-12)
    # a summary's hard histograms against numpy's
    result = train_summary(processes, bins=3, steps=2, device="cpu", progress=False)
    model = result.binned_model(processes)
    s = result.summary(sig[:, None])
    np.testing.assert_allclose(
        model.samples[0].staterror.numpy(),
        # at least one event's w^2: an empty bin is not exact
        np.sqrt(np.maximum(np.histogram(s, result.edges, weights=w_sig**2)[0], np.mean(w_sig**2))),
        rtol=1e-10,
    )


def test_neos_with_staterror_trains_and_ends_with_gammas():
    processes = gaussian_processes(150)
    processes[1].staterror = True  # 300 background events weighing 0.5 each: a few per bin at the edges
    result = train_summary(processes, bins=4, steps=15, learning_rate=0.02, seed=2, device="cpu", progress=False)
    assert result.history[-1] > result.history[0] + 0.1
    model = result.binned_model(processes)
    assert any(name.startswith("stat_bin_") for name in model.parameters)
    assert model.samples[0].staterror is None


def stratified_normal(rng, n, mean):
    """n normal events, one in each of n equal-probability strata (a hard-cut scan without MC jitter)."""
    return stats.norm.ppf((np.arange(n) + rng.uniform(size=n)) / n) + mean


def test_soft_cut_optimum_matches_the_hard_cut_scan():
    rng = np.random.default_rng(11)
    n = 20_000
    processes = [
        Process("signal", stratified_normal(rng, n, 1.0), 30.0 / n, signal=True),
        Process("background", stratified_normal(rng, n, -1.0), 300.0 / n, normsys={"bkg_norm": (0.9, 1.1)}),
    ]
    step = 0.1
    grid = np.arange(-0.5, 2.5 + step / 2, step)
    hard = scan_cuts(processes, grid)
    best = grid[np.argmax(hard)]
    result = optimize_cuts(
        processes, [0.0], temperature=0.05, steps=120, learning_rate=0.05, device="cpu", progress=False
    )
    assert result.history[-1] > result.history[0] + 1.0
    assert abs(result.cuts[0] - best) <= step
    # the soft objective at its optimum is the hard one within a percent
    assert result.history[-1] == pytest.approx(hard.max(), rel=0.01)


@pytest.mark.gpu
def test_neos_trains_on_cuda():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    result = train_summary(gaussian_processes(100), steps=3, device="cuda", progress=False)
    assert np.isfinite(result.history).all()
    # the same float32 network on the same events: the devices differ by rounding only
    on_cpu = train_summary(gaussian_processes(100), steps=3, device="cpu", progress=False)
    assert result.history == pytest.approx(on_cpu.history, rel=1e-5)
    cuts = optimize_cuts(gaussian_processes(100), [0.0, 0.0], steps=3, device="cuda", progress=False)
    assert np.isfinite(cuts.cuts).all()
