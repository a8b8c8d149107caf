"""Gold from RooFit: joint log ratio and joint score of latent-variable problems, their simulation and files."""

import logging

import numpy as np
import pytest
from conftest import exact_log_ratio
from scipy import stats

from roosbi.data import gold
from roosbi.data.builtin import RESONANCE_RANGE, gauss1d, resonance, smeared
from roosbi.data.problems import Problem
from roosbi.data.sample import TrainingSample
from roosbi.data.sample_files import read_sample, write_sample
from roosbi.data.samples import sample_from_arrays, sample_from_dataframe, sample_from_tree, sample_from_trees
from roosbi.data.simulate import generate_with_latents, simulate, simulate_local
from roosbi.exceptions import InputError
from roosbi.library import import_root

ROOT = import_root()
SIGMA = 1.5  # the latent width of smeared()
LO, HI = RESONANCE_RANGE


@pytest.fixture(scope="module")
def smeared_problem():
    return smeared(n_observed=200)


@pytest.fixture(scope="module")
def resonance_problem():
    return resonance(n_observed=200)


def truncated_log_gauss(z, mu, sigma, lo, hi):
    """log of a Gaussian normalised on [lo, hi], as RooGaussian is."""
    norm = stats.norm.cdf((hi - mu) / sigma) - stats.norm.cdf((lo - mu) / sigma)
    return stats.norm.logpdf(z, mu, sigma) - np.log(norm)


def resonance_truth(z, mass, width, f=0.2, slope=-0.03):
    """p(z | mass, width) of resonance() and its gradient in (mass, width), in closed form."""
    a, b = (HI - mass) / width, (LO - mass) / width
    norm = stats.norm.cdf(a) - stats.norm.cdf(b)
    line = stats.norm.pdf(z, mass, width) / norm
    continuum = slope * np.exp(slope * z) / (np.exp(slope * HI) - np.exp(slope * LO))
    p = f * line + (1 - f) * continuum
    dlog_mass = (z - mass) / width**2 - (stats.norm.pdf(b) - stats.norm.pdf(a)) / (width * norm)
    dlog_width = (
        -1 / width + (z - mass) ** 2 / width**3 - (b * stats.norm.pdf(b) - a * stats.norm.pdf(a)) / (width * norm)
    )
    return p, np.column_stack([f * line * dlog_mass / p, f * line * dlog_width / p])


def cdf_of(pdf, var, n_grid=6001):
    """The cumulative distribution of a RooFit pdf of one variable, on a fine grid (trapezoids)."""
    grid = np.linspace(var.getMin(), var.getMax(), n_grid)
    normset = ROOT.RooArgSet(var)
    values = np.empty(n_grid)
    for i, v in enumerate(grid):
        var.setVal(v)
        values[i] = pdf.getVal(normset)
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (values[1:] + values[:-1]) * np.diff(grid))])
    return lambda x: np.interp(x, grid, cdf / cdf[-1])


# ----------------------------------------------------------------------------- exact against closed forms


def test_smeared_gold_matches_the_analytic_derivatives(smeared_problem):
    p = smeared_problem
    rng = np.random.default_rng(1)
    # Prior draws and the edges of mu's range [0, 4], where the one-sided stencils take over.
    mu = np.concatenate([rng.uniform(0, 4, 2000), [0.0, 4.0, 1e-5, 4 - 1e-5, 2e-4, 4 - 2e-4]])
    _, z = generate_with_latents(p, mu[:, None], seed=3)
    score = gold.joint_score(p, z, mu)
    np.testing.assert_allclose(score[:, 0], (z[:, 0] - mu) / SIGMA**2, rtol=0, atol=1e-8)
    exact = truncated_log_gauss(z[:, 0], mu, SIGMA, -10, 20)
    np.testing.assert_allclose(gold.log_latent_density(p, z, mu), exact, rtol=0, atol=1e-10)
    ratio = gold.joint_log_ratio(p, z, mu)  # the problem's reference point, mu = 2
    np.testing.assert_allclose(ratio, exact - truncated_log_gauss(z[:, 0], 2.0, SIGMA, -10, 20), rtol=0, atol=1e-10)
    # Against a pdf of the latent, and at a point given by the caller.
    p.workspace.factory("Gaussian::latent_ref(z, 1.0, 2.0)")
    against_pdf = gold.joint_log_ratio(p, z, mu, reference="latent_ref")
    np.testing.assert_allclose(against_pdf, exact - truncated_log_gauss(z[:, 0], 1.0, 2.0, -10, 20), atol=1e-10)
    both, _ = gold.compute_gold(p, z, {"mu": 3.0}, reference={"mu": 1.0}, score=False)
    expected = truncated_log_gauss(z[:, 0], 3.0, SIGMA, -10, 20) - truncated_log_gauss(z[:, 0], 1.0, SIGMA, -10, 20)
    np.testing.assert_allclose(both, expected, atol=1e-10)
    assert p.workspace.var("mu").getVal() == 2.5  # the workspace's values are left alone


def test_resonance_gold_matches_the_closed_form(resonance_problem):
    p = resonance_problem
    rng = np.random.default_rng(2)
    theta = np.column_stack([rng.uniform(120, 130, 3000), rng.uniform(1, 4, 3000)])
    theta[:4] = [[120.0, 1.0], [130.0, 4.0], [120.0, 4.0], [130.0, 1.0]]  # corners: one-sided in both
    _, z = generate_with_latents(p, theta, seed=4)
    density, grad = resonance_truth(z[:, 0], theta[:, 0], theta[:, 1])
    np.testing.assert_allclose(gold.log_latent_density(p, z, theta), np.log(density), rtol=0, atol=1e-10)
    np.testing.assert_allclose(gold.joint_score(p, z, theta), grad, rtol=1e-6, atol=1e-6)
    ref_density, _ = resonance_truth(z[:, 0], 125.0, 2.5)
    np.testing.assert_allclose(gold.joint_log_ratio(p, z, theta), np.log(density / ref_density), atol=1e-10)


def test_problem_without_latents_gives_the_exact_ratio_and_score():
    """MadMiner's "no smearing" case: x is its own latent, the gold is the exact log ratio and score."""
    p = gauss1d(n_observed=100)
    s = simulate(p, n_target=3000, seed=2, gold=True)
    mu = s.theta[:, 0]
    x = s.x[:, 0]
    np.testing.assert_allclose(s.joint_log_ratio, exact_log_ratio(x, mu) - truncated_norm_offset(mu), atol=1e-9)
    np.testing.assert_allclose(s.joint_score[:, 0], (x - mu) / SIGMA**2 + truncated_score_offset(mu), atol=1e-7)
    assert s.reference == "pdf uniform"
    # By default a problem without latents carries no gold (nothing changes for it).
    assert not simulate(p, n_target=100, seed=2).has_gold


def truncated_norm_offset(mu, lo=-5.0, hi=15.0):
    """log of the fraction of N(mu, 1.5) inside gauss1d's x range (RooGaussian normalises over it)."""
    return np.log(stats.norm.cdf((hi - mu) / SIGMA) - stats.norm.cdf((lo - mu) / SIGMA))


def truncated_score_offset(mu, lo=-5.0, hi=15.0, eps=1e-6):
    return -(truncated_norm_offset(mu + eps, lo, hi) - truncated_norm_offset(mu - eps, lo, hi)) / (2 * eps)


def test_per_event_addpdf_fraction_falls_back_to_scalar_evaluation(caplog):
    """ROOT 6.40's batch evaluation of a RooAddPdf with a per-event coefficient is wrong; the gold is not."""
    ws = ROOT.RooWorkspace("w_add")
    ROOT.SetOwnership(ws, False)
    ws.factory(f"Gaussian::sig(z[{LO},{HI}], mass[120,130], 2.0)")
    ws.factory("Exponential::bkg(z, -0.03)")
    ws.factory("SUM::truth(frac[0.2,0.05,0.95]*sig, bkg)")
    ws.factory(f"Gaussian::detector(x[{LO - 8},{HI + 8}], z, 1.0)")
    ws.factory("Uniform::flat(x)")
    ws.var("x").setVal(125.0)
    data = ws.pdf("flat").generate(ROOT.RooArgSet(ws.var("x")), 10)
    data.SetName("obs")
    ws.Import(data, Silence=True)
    p = Problem(
        "add",
        ws,
        "flat",
        "flat",
        ["x"],
        ["mass", "frac"],
        "obs",
        latents=["z"],
        latent_pdf="truth",
        observation_pdf="detector",
        reference_point={"mass": 125.0, "frac": 0.5},
    )
    rng = np.random.default_rng(5)
    theta = np.column_stack([rng.uniform(120, 130, 400), rng.uniform(0.05, 0.95, 400)])
    _, z = generate_with_latents(p, theta, seed=6)
    z, mass, frac = z[:, 0], theta[:, 0], theta[:, 1]
    line = np.exp(truncated_log_gauss(z, mass, 2.0, LO, HI))
    continuum = -0.03 * np.exp(-0.03 * z) / (np.exp(-0.03 * HI) - np.exp(-0.03 * LO))
    exact = frac * line + (1 - frac) * continuum
    with caplog.at_level(logging.INFO, logger="roosbi.data.gold"):
        log_p, score = gold._gold(p, z, theta, None, score=True)[:2]
    np.testing.assert_allclose(log_p, np.log(exact), rtol=0, atol=1e-10)
    np.testing.assert_allclose(score[:, 1], (line - continuum) / exact, rtol=1e-6, atol=1e-7)
    dmass = frac * line * ((z - mass) / 4.0 - dlog_norm_dmass(mass, 2.0)) / exact
    np.testing.assert_allclose(score[:, 0], dmass, rtol=1e-6, atol=1e-7)
    # The rule: where the batch result differs from the scalar one, say so and evaluate event by event.
    columns = {"z": z, "mass": mass, "frac": frac}
    with gold._Density(ws.pdf("truth"), ["z"], ["z", "mass", "frac"], "truth") as density:
        batch = density._batch(np.vstack([columns[n] for n in density.inputs]), len(z))
    batch_is_wrong = not np.allclose(batch, exact, rtol=1e-8)
    assert batch_is_wrong == ("evaluating it event by event" in caplog.text)


def dlog_norm_dmass(mass, width):
    a, b = (HI - mass) / width, (LO - mass) / width
    return (stats.norm.pdf(b) - stats.norm.pdf(a)) / (width * (stats.norm.cdf(a) - stats.norm.cdf(b)))


# ----------------------------------------------------------------------------- simulation


def test_simulation_with_latents_is_reproducible_and_carries_consistent_gold(smeared_problem):
    p = smeared_problem
    a = simulate(p, n_target=4000, seed=11)
    b = simulate(p, n_target=4000, seed=11)
    c = simulate(p, n_target=4000, seed=12)
    for field in ("x", "theta", "joint_log_ratio", "joint_score"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.x, c.x)
    assert a.has_gold and a.reference == "point mu=2" and not a.reference_uniform
    np.testing.assert_array_equal(a.theta[a.y == 1], a.theta[a.y == 0])
    # The score gives back each event's z = mu + sigma^2 t: x is z smeared by the resolution (1),
    # not by the observed width sqrt(1.5^2 + 1); the log ratio is the Gaussians' at that z.
    mu = a.theta[:, 0]
    z = mu + SIGMA**2 * a.joint_score[:, 0]
    smear = a.x[:, 0] - z
    assert abs(smear.mean()) < 0.03 and abs(smear.std() - 1.0) < 0.02
    expected = truncated_log_gauss(z, mu, SIGMA, -10, 20) - truncated_log_gauss(z, 2.0, SIGMA, -10, 20)
    np.testing.assert_allclose(a.joint_log_ratio, expected, atol=1e-8)
    x1, z1 = generate_with_latents(p, mu[:50, None], seed=3)
    x2, z2 = generate_with_latents(p, mu[:50, None], seed=3)
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(z1, z2)


@pytest.mark.parametrize(
    ("build", "point"),
    [(smeared, {"mu": 3.1}), (resonance, {"mass": 127.0, "width": 3.0})],
    ids=["smeared", "resonance"],
)
def test_simulated_x_follows_the_observed_level_pdf(build, point):
    p = build(n_observed=100)
    theta = np.tile([point[name] for name in p.parameters], (20_000, 1))
    x, z = generate_with_latents(p, theta, seed=8)
    for name, value in point.items():
        p.var(name).setVal(value)
    var = p.var(p.observables[0])
    u = cdf_of(p.workspace.pdf(p.target_pdf), var)(x[:, 0])
    assert stats.kstest(u, "uniform").pvalue > 1e-3
    assert not np.array_equal(x, z)


def test_generation_with_per_event_parameters_keeps_addpdf_fractions():
    """RooAddPdf + ProtoData draws wrong fractions unless the coefficient normalisation is fixed (simulate fixes it).

    The line's mass and width come per event, the other component has neither: RooFit 6.40 counts
    them as observables of the coefficients and draws the line in ~40% of the events, not 50%.
    """
    ws = ROOT.RooWorkspace("w_fractions")
    ROOT.SetOwnership(ws, False)
    ws.factory("Gaussian::line(z[100, 160], mass[105, 115], width[1, 3])")
    ws.factory("Gaussian::other(z, 150, 1)")
    ws.factory("SUM::truth(frac[0.5]*line, other)")
    ws.factory("Gaussian::detector(x[90, 170], z, 1.0)")
    ws.factory("Uniform::flat(x)")
    data = ws.pdf("flat").generate(ROOT.RooArgSet(ws.var("x")), 5)
    data.SetName("obs")
    ws.Import(data, Silence=True)
    p = Problem(
        "fractions",
        ws,
        "flat",
        "flat",
        ["x"],
        ["mass", "width"],
        "obs",
        latents=["z"],
        latent_pdf="truth",
        observation_pdf="detector",
    )
    n = 20_000
    rng = np.random.default_rng(3)
    theta = np.column_stack([rng.uniform(105, 115, n), rng.uniform(1, 3, n)])
    _, z = generate_with_latents(p, theta, seed=5)
    is_line = z[:, 0] < 130
    assert abs(is_line.mean() - 0.5) < 5 * np.sqrt(0.25 / n)
    wide = theta[:, 1] > 2.5  # and event by event
    assert abs(is_line[wide].mean() - 0.5) < 5 * np.sqrt(0.25 / wide.sum())
    pull = (z[is_line, 0] - theta[is_line, 0]) / theta[is_line, 1]
    assert abs(pull.mean()) < 0.03 and abs(pull.std() - 1.0) < 0.03
    assert not ws.pdf("truth").getCoefNormalization().getSize()  # the workspace's pdf is left as it was


def test_the_joint_ratio_averages_to_one_over_reference_events(smeared_problem):
    """E_ref[r(x, z | theta)] = 1 for every theta: the identity the augmented losses rely on."""
    s = simulate(smeared_problem, n_target=50_000, seed=7)
    r = np.exp(s.joint_log_ratio[s.y == 0])
    assert abs(r.mean() - 1.0) < 5 * r.std() / np.sqrt(len(r))
    # and the joint score averages to zero over target events (each at its own theta)
    t = s.joint_score[s.y == 1, 0]
    assert abs(t.mean()) < 5 * t.std() / np.sqrt(len(t))


def test_gold_of_the_resonance_is_fast_and_averages_right(resonance_problem):
    s = simulate(resonance_problem, n_target=20_000, seed=9)
    assert s.joint_score.shape == (40_000, 2)
    r = np.exp(s.joint_log_ratio[s.y == 0])
    assert abs(r.mean() - 1.0) < 5 * r.std() / np.sqrt(len(r))


def test_reference_pdf_of_the_latent(smeared_problem):
    p = smeared_problem
    p.workspace.factory("Gaussian::latent_ref2(z, 2.0, 2.5)")
    s = simulate(p, n_target=20_000, seed=4, reference="latent_ref2")
    assert s.has_gold and s.reference == "pdf latent_ref2"
    ref = s.y == 0
    # x of the reference: z ~ N(2, 2.5) smeared by 1
    assert abs(s.x[ref, 0].mean() - 2.0) < 0.05 and abs(s.x[ref, 0].std() - np.hypot(2.5, 1.0)) < 0.05
    r = np.exp(s.joint_log_ratio[ref])
    assert abs(r.mean() - 1.0) < 5 * r.std() / np.sqrt(len(r))


def test_local_score_sample(resonance_problem):
    local = simulate_local(resonance_problem, {"mass": 124.0, "width": 2.0}, n=20_000, seed=3)
    assert local.joint_score.shape == (20_000, 2) and local.point == {"mass": 124.0, "width": 2.0}
    # E[t(x, z | theta)] = 0 at the point the events were simulated at.
    t = local.joint_score
    assert np.all(np.abs(t.mean(axis=0)) < 5 * t.std(axis=0) / np.sqrt(len(t)))
    again = simulate_local(resonance_problem, {"mass": 124.0, "width": 2.0}, n=100, seed=3)
    np.testing.assert_array_equal(again.x, simulate_local(resonance_problem, {"mass": 124.0, "width": 2.0}, 100, 3).x)


def test_gold_takes_a_few_seconds_at_most(smeared_problem, caplog):
    with caplog.at_level(logging.INFO, logger="roosbi.data.simulate"):
        simulate(smeared_problem, n_target=50_000, seed=1)
    seconds = float(caplog.text.split("gold (joint log ratio and score) of 100000 events in ")[1].split(" s")[0])
    assert seconds < 5.0


# ----------------------------------------------------------------------------- samples and files


def test_gold_round_trips_through_a_file(smeared_problem, tmp_path):
    s = simulate(smeared_problem, n_target=500, seed=2)
    back = read_sample(write_sample(s, tmp_path / "gold.root"))
    for field in ("x", "theta", "y", "weights", "joint_log_ratio", "joint_score"):
        np.testing.assert_array_equal(getattr(back, field), getattr(s, field))
    assert back.reference == "point mu=2" and back.parameters == ["mu"]
    path = tmp_path / "gold.root"
    frame = ROOT.RDataFrame("roosbi_sample", str(path))
    np.testing.assert_array_equal(frame.AsNumpy(["joint_score_mu"])["joint_score_mu"], s.joint_score[:, 0])
    # Read back by name, as any file with gold branches would be.
    gold_columns = {"joint_log_ratio": "joint_log_ratio", "joint_score": ["joint_score_mu"]}
    again = sample_from_tree(path, ["x"], ["mu"], "label", **gold_columns)
    np.testing.assert_array_equal(again.joint_score, s.joint_score)
    # Target and reference from two sources (here two selections of the file), gold in both.
    target, reference = frame.Filter("label == 1"), frame.Filter("label == 0")
    two = sample_from_trees(target, reference, ["x"], ["mu"], **gold_columns)
    np.testing.assert_array_equal(two.joint_log_ratio, s.joint_log_ratio)
    ref = s.y == 0
    no_mu = {"x": s.x[ref, 0], "joint_log_ratio": s.joint_log_ratio[ref], "joint_score_mu": s.joint_score[ref, 0]}
    with pytest.raises(InputError, match="has no parameter branches.*give the reference its parameter branches"):
        sample_from_trees(target, ROOT.RDF.FromNumpy(no_mu), ["x"], ["mu"], **gold_columns)
    # A sample without gold stays a version 1 file.
    plain = simulate(smeared_problem, n_target=200, seed=2, gold=False)
    assert not plain.has_gold
    path = write_sample(plain, tmp_path / "plain.root")
    f = ROOT.TFile.Open(str(path))
    assert '"version": 1' in str(f.Get("roosbi_sample_info").GetTitle())
    f.Close()
    assert not read_sample(path).has_gold


def test_external_gold_columns():
    rng = np.random.default_rng(0)
    n = 200
    x, theta, y = rng.normal(size=(n, 1)), rng.uniform(size=(n, 2)), np.arange(n) % 2
    ratio, score = rng.normal(size=n), rng.normal(size=(n, 2))
    s = sample_from_arrays(x, theta, y, ["x"], ["a", "b"], joint_log_ratio=ratio, joint_score=score)
    np.testing.assert_array_equal(s.joint_score, score)
    columns = {
        "x": x[:, 0],
        "a": theta[:, 0],
        "b": theta[:, 1],
        "y": y,
        "r": ratio,
        "ta": score[:, 0],
        "tb": score[:, 1],
    }
    d = sample_from_dataframe(columns, ["x"], ["a", "b"], "y", joint_log_ratio="r", joint_score=["ta", "tb"])
    np.testing.assert_array_equal(d.joint_log_ratio, ratio)
    np.testing.assert_array_equal(d.joint_score, score)


# ----------------------------------------------------------------------------- bad input


def test_bad_gold_inputs_are_refused(smeared_problem):
    p = smeared_problem
    ws = p.workspace
    with pytest.raises(InputError, match="'x' is named as a latent variable and as an observable"):
        Problem(
            "p",
            ws,
            "smeared",
            "reference",
            ["x"],
            ["mu"],
            "obs_data",
            latents=["x"],
            latent_pdf="truth",
            observation_pdf="detector",
        )
    n = 20
    rng = np.random.default_rng(1)
    x, theta, y = rng.normal(size=n), rng.uniform(size=n), np.arange(n) % 2
    with pytest.raises(InputError, match="joint_score has shape \\(20, 2\\).*one column per parameter"):
        sample_from_arrays(x, theta, y, ["x"], ["mu"], joint_score=rng.normal(size=(n, 2)))
    with pytest.raises(InputError, match="joint_score must have one column per parameter"):
        TrainingSample(x, theta, y, ["x"], ["mu"], {"mu": (0, 1)}, joint_score=rng.normal(size=(n, 3)))
    with pytest.raises(InputError, match="joint_score names 2 column"):
        sample_from_dataframe({"x": x, "mu": theta, "y": y}, ["x"], ["mu"], "y", joint_score=["x", "y"])
    bad_ratio = rng.normal(size=n)
    bad_ratio[7] = np.nan
    with pytest.raises(InputError, match="'joint_log_ratio' holds 1 NaN/Inf value\\(s\\), first in row 7"):
        sample_from_arrays(x, theta, y, ["x"], ["mu"], joint_log_ratio=bad_ratio)
    with pytest.raises(InputError, match="rows"):
        sample_from_arrays(x, theta, y, ["x"], ["mu"], joint_log_ratio=bad_ratio[:5])
    with pytest.raises(InputError, match="gold=True, but the marginal reference has no per-event density"):
        simulate(p, n_target=100, reference="marginal", gold=True)
    with pytest.raises(InputError, match="marginal reference p\\(x\\).*reference=\\{'mu': 2\\}"):
        gold.joint_log_ratio(p, [1.0], [2.0], reference="marginal")
    with pytest.raises(InputError, match="gold=True, but the reference pdf 'reference' is a density of the observ"):
        simulate(p, n_target=100, reference="reference", gold=True)
    assert not simulate(p, n_target=100, reference="reference").has_gold  # None: quietly without
    with pytest.raises(InputError, match="reference point mu=7.0 is outside its range"):
        simulate(p, n_target=100, reference={"mu": 7.0})
    with pytest.raises(InputError, match="reference point mu=-1 is outside its range"):
        Problem(
            "p",
            ws,
            "smeared",
            "reference",
            ["x"],
            ["mu"],
            "obs_data",
            latents=["z"],
            latent_pdf="truth",
            observation_pdf="detector",
            reference_point={"mu": -1},
        )
    with pytest.raises(InputError, match="local point mu=5.0 is outside its range"):
        simulate_local(p, {"mu": 5.0}, n=10)
    with pytest.raises(InputError, match="unknown: nu"):
        simulate_local(p, {"mu": 1.0, "nu": 1.0}, n=10)
    with pytest.raises(InputError, match="z outside its range \\[-10, 20\\], first event 1"):
        gold.joint_score(p, [1.0, 25.0], [2.0, 2.0])
    with pytest.raises(InputError, match="theta has 3 rows but there are 2 events"):
        gold.joint_score(p, [1.0, 2.0], [2.0, 2.0, 2.0])


def test_a_vanishing_density_is_named_not_passed_on():
    ws = ROOT.RooWorkspace("w_zero")
    ROOT.SetOwnership(ws, False)
    ws.factory("GenericPdf::truth('(z > mu) * exp(mu - z)', {z[0, 30], mu[0, 4]})")
    ws.factory("Gaussian::detector(x[-10, 40], z, 1.0)")
    ws.factory("Uniform::flat(x)")
    ws.var("x").setVal(1.0)
    data = ws.pdf("flat").generate(ROOT.RooArgSet(ws.var("x")), 5)
    data.SetName("obs")
    ws.Import(data, Silence=True)
    p = Problem(
        "zero", ws, "flat", "flat", ["x"], ["mu"], "obs", latents=["z"], latent_pdf="truth", observation_pdf="detector"
    )
    with pytest.raises(InputError, match="is 0 for 1 event\\(s\\), first event 2 \\(z=1, mu=3\\)"):
        gold.log_latent_density(p, [5.0, 6.0, 1.0], [1.0, 2.0, 3.0])
