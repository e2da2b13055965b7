"""Tests of the BTYD models in ltv: published CDNOW fits, gradients, simulation checks."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from conftest import cdnow_sample_summary
from ltv import (
    BetaGeoModel,
    GammaGammaModel,
    ModifiedBetaGeoModel,
    ParetoNBDModel,
    load_model,
)


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    """x, t_x, T (weeks) and mean repeat spend per customer, as of 1997-09-30 (README)."""
    return cdnow_sample_summary()


def _model(cls, params: dict, cov=None):
    k = len(cls.param_names)
    payload = {
        "model": cls.model_name,
        "params": params,
        "params_cov": (np.zeros((k, k)) if cov is None else cov).tolist(),
        "log_likelihood": 0.0,
        "aic": 0.0,
        "bic": 0.0,
        "n_customers": 0,
        "converged": True,
        "penalizer": 0.0,
    }
    return cls.from_json(json.dumps(payload))


# -- published fits (Fader, Hardie & Lee 2005; Fader & Hardie 2005, 2013) ----------------------


def test_bgnbd_reproduces_published_cdnow_fit(cdnow):
    m = BetaGeoModel().fit(cdnow["x"], cdnow["t_x"], cdnow["T"])
    for name, value in {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}.items():
        assert abs(m.params_[name] - value) < 5e-4, name
    assert abs(m.log_likelihood_ - -9582.4) < 0.05
    assert m.converged_ and m.n_customers_ == 2357
    assert m.aic_ == pytest.approx(8 - 2 * m.log_likelihood_)


def test_pareto_nbd_reproduces_published_cdnow_fit(cdnow):
    m = ParetoNBDModel().fit(cdnow["x"], cdnow["t_x"], cdnow["T"])
    for name, value in {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}.items():
        assert abs(m.params_[name] - value) < 5e-4, name
    assert abs(m.log_likelihood_ - -9595.0) < 0.05
    assert m.converged_


def test_gamma_gamma_reproduces_published_cdnow_fit(cdnow):
    repeat = cdnow[cdnow["x"] > 0]
    assert len(repeat) == 946
    m = GammaGammaModel().fit(repeat["x"], repeat["m"])
    for name, value in {"p": 6.25, "q": 3.74, "v": 15.44}.items():
        assert abs(m.params_[name] - value) < 5e-3, name


def test_mbgnbd_fits_with_comparable_likelihood(cdnow):
    bg = BetaGeoModel().fit(cdnow["x"], cdnow["t_x"], cdnow["T"])
    mbg = ModifiedBetaGeoModel().fit(cdnow["x"], cdnow["t_x"], cdnow["T"])
    assert mbg.converged_
    assert mbg.log_likelihood_ > bg.log_likelihood_ - 1.0
    # in MBG/NBD a customer without repeat purchases may be inactive
    alive = mbg.probability_alive([0.0], [0.0], [30.0])
    assert 0 < alive[0] < 1


def test_weighted_fit_on_distinct_histories_equals_fit_on_rows(cdnow):
    counts = cdnow.groupby(["x", "t_x", "T"]).size().reset_index(name="n")
    assert len(counts) < len(cdnow)
    raw = BetaGeoModel().fit(cdnow["x"], cdnow["t_x"], cdnow["T"])
    weighted = BetaGeoModel().fit(counts["x"], counts["t_x"], counts["T"], weights=counts["n"])
    for name in raw.params_:
        assert weighted.params_[name] == pytest.approx(raw.params_[name], rel=1e-6)
    assert weighted.log_likelihood_ == pytest.approx(raw.log_likelihood_, abs=1e-6)


@pytest.mark.parametrize(
    ("cls", "theta"),
    [
        (BetaGeoModel, [0.3, 4.0, 0.8, 2.5]),
        (ModifiedBetaGeoModel, [0.5, 6.0, 0.9, 1.6]),
    ],
)
def test_analytic_gradient_matches_finite_differences(cdnow, cls, theta):
    model = cls()
    data = (cdnow["x"].to_numpy(), cdnow["t_x"].to_numpy(), cdnow["T"].to_numpy())
    theta = np.array(theta)
    _, grad = model._log_likelihood_gradient(theta, *data)
    for j in range(4):
        step = np.zeros(4)
        step[j] = 1e-6
        up = model._log_likelihood(theta * np.exp(step), *data).sum()
        down = model._log_likelihood(theta * np.exp(-step), *data).sum()
        assert grad[:, j].sum() == pytest.approx((up - down) / 2e-6, rel=1e-6, abs=1e-6)


def test_gamma_gamma_gradient_matches_finite_differences(cdnow):
    repeat = cdnow[cdnow["x"] > 0]
    data = (repeat["x"].to_numpy(), repeat["m"].to_numpy())
    model, theta = GammaGammaModel(), np.array([5.0, 3.0, 12.0])
    _, grad = model._log_likelihood_gradient(theta, *data)
    for j in range(3):
        step = np.zeros(3)
        step[j] = 1e-6
        up = model._log_likelihood(theta * np.exp(step), *data).sum()
        down = model._log_likelihood(theta * np.exp(-step), *data).sum()
        assert grad[:, j].sum() == pytest.approx((up - down) / 2e-6, rel=1e-6, abs=1e-6)


# -- simulation from known truths --------------------------------------------------------------

BG_TRUE = {"r": 0.4, "alpha": 5.0, "a": 0.8, "b": 2.5}
MBG_TRUE = {"r": 0.4, "alpha": 5.0, "a": 0.8, "b": 2.5}
PARETO_TRUE = {"r": 0.6, "alpha": 8.0, "s": 0.7, "beta": 12.0}
HOLDOUT = 26.0


def simulate(kind: str, n: int, seed: int):
    """Calibration histories (x, t_x, T) and holdout counts in (T, T + HOLDOUT] from the truth."""
    rng = np.random.default_rng(seed)
    big_t = rng.integers(8 * 7, 52 * 7, n) / 7
    if kind in ("bgnbd", "mbgnbd"):
        p = BG_TRUE if kind == "bgnbd" else MBG_TRUE
        lam = rng.gamma(p["r"], 1 / p["alpha"], n)
        drop = rng.beta(p["a"], p["b"], n)
        # number of repeat purchases made before dropping out; MBG can drop at time 0
        allowed = rng.geometric(drop) - (1 if kind == "mbgnbd" else 0)
        n1 = rng.poisson(lam * big_t)
        n2 = rng.poisson(lam * HOLDOUT)
        x = np.minimum(n1, allowed)
        holdout = np.minimum(n2, np.maximum(allowed - n1, 0))
        t_x = np.where(x > 0, big_t * rng.beta(np.maximum(x, 1), n1 - x + 1), 0.0)
    else:
        p = PARETO_TRUE
        lam = rng.gamma(p["r"], 1 / p["alpha"], n)
        mu = rng.gamma(p["s"], 1 / p["beta"], n)
        life = rng.exponential(1 / mu)
        active = np.minimum(life, big_t)
        x = rng.poisson(lam * active)
        t_x = np.where(x > 0, active * rng.beta(np.maximum(x, 1), 1), 0.0)
        holdout = rng.poisson(lam * np.clip(life - big_t, 0, HOLDOUT))
    return x.astype(float), t_x, big_t, holdout


MODELS = {
    "bgnbd": (BetaGeoModel, BG_TRUE),
    "mbgnbd": (ModifiedBetaGeoModel, MBG_TRUE),
    "pareto_nbd": (ParetoNBDModel, PARETO_TRUE),
}


@pytest.mark.parametrize("kind", list(MODELS))
def test_fit_recovers_simulated_parameters(kind):
    cls, truth = MODELS[kind]
    x, t_x, big_t, _ = simulate(kind, 6000, seed=11)
    t_x = np.floor(t_x * 7) / 7  # daily resolution, as real data
    m = cls().fit(x, t_x, big_t)
    se = np.sqrt(np.diag(m.params_cov_))
    z = (np.log(m.theta_) - np.log([truth[k] for k in cls.param_names])) / se
    assert m.converged_
    assert np.all(np.abs(z) < 4), dict(zip(cls.param_names, z, strict=True))


@pytest.mark.parametrize("kind", list(MODELS))
def test_conditional_predictions_match_simulation(kind):
    """E[X(T,T+t]|history] and P(no purchase) averaged over customers vs simulated holdout."""
    cls, truth = MODELS[kind]
    model = _model(cls, truth)
    x, t_x, big_t, holdout = simulate(kind, 200_000, seed=5)
    for group in (x == 0, (x > 0) & (x < 3), x >= 3):
        expected = model.expected_transactions(HOLDOUT, x[group], t_x[group], big_t[group])
        sd = holdout[group].std() / np.sqrt(group.sum())
        assert abs(expected.mean() - holdout[group].mean()) < 4 * sd
        quiet = model.probability_no_transactions(HOLDOUT, x[group], t_x[group], big_t[group])
        observed = (holdout[group] == 0).mean()
        sd_quiet = np.sqrt(observed * (1 - observed) / group.sum())
        assert abs(quiet.mean() - observed) < 4 * sd_quiet + 1e-4


@pytest.mark.parametrize("kind", list(MODELS))
def test_unconditional_expectation_matches_simulation(kind):
    cls, truth = MODELS[kind]
    model = _model(cls, truth)
    rng = np.random.default_rng(3)
    n, t = 400_000, 30.0
    if kind == "pareto_nbd":
        lam = rng.gamma(truth["r"], 1 / truth["alpha"], n)
        life = rng.exponential(1 / rng.gamma(truth["s"], 1 / truth["beta"], n))
        counts = rng.poisson(lam * np.minimum(life, t))
    else:
        lam = rng.gamma(truth["r"], 1 / truth["alpha"], n)
        allowed = rng.geometric(rng.beta(truth["a"], truth["b"], n))
        counts = np.minimum(rng.poisson(lam * t), allowed - (1 if kind == "mbgnbd" else 0))
    sd = counts.std() / np.sqrt(n)
    assert abs(model.expected_transactions_new(t) - counts.mean()) < 4 * sd


def test_bgnbd_alive_is_one_without_repeat_purchases():
    m = _model(BetaGeoModel, BG_TRUE)
    assert np.all(m.probability_alive([0, 0, 0], [0, 0, 0], [1.0, 20.0, 80.0]) == 1.0)
    # and decreases with the time since the last purchase
    alive = m.probability_alive([3, 3, 3], [30, 20, 5], [30, 30, 30])
    assert alive[0] > alive[1] > alive[2]


@pytest.mark.parametrize("kind", list(MODELS))
def test_json_round_trip(cdnow, kind):
    cls, _ = MODELS[kind]
    m = cls().fit(cdnow["x"], cdnow["t_x"], cdnow["T"])
    again = load_model(m.to_json())
    assert type(again) is cls
    assert again.params_ == m.params_
    np.testing.assert_array_equal(again.params_cov_, m.params_cov_)
    args = (cdnow["x"], cdnow["t_x"], cdnow["T"])
    np.testing.assert_array_equal(
        again.expected_transactions(10, *args), m.expected_transactions(10, *args)
    )
    assert cls.from_json(m.to_json()).log_likelihood_ == m.log_likelihood_


def test_load_model_from_file_and_gamma_gamma_round_trip(cdnow, tmp_path):
    repeat = cdnow[cdnow["x"] > 0]
    m = GammaGammaModel().fit(repeat["x"], repeat["m"])
    path = tmp_path / "spend.json"
    path.write_text(m.to_json())
    again = load_model(path)
    assert isinstance(again, GammaGammaModel) and again.params_ == m.params_
    with pytest.raises(ValueError, match="not 'bgnbd'"):
        BetaGeoModel.from_json(m.to_json())


def test_gamma_gamma_expected_value_is_shrunk_mean():
    m = _model(GammaGammaModel, {"p": 6.0, "q": 4.0, "v": 15.0})
    population = 6.0 * 15.0 / 3.0
    # x = 2, zbar = 50: weight on own mean px/(px+q-1) = 12/15
    assert m.expected_value([2], [50.0])[0] == pytest.approx(3 / 15 * population + 12 / 15 * 50)
    assert m.expected_value([0], [np.nan])[0] == pytest.approx(population)


def test_sample_params_follow_the_covariance():
    cov = np.diag([0.01, 0.04, 0.0025, 0.09])
    m = _model(BetaGeoModel, BG_TRUE, cov)
    draws = m.sample_params(20_000, np.random.default_rng(0))
    assert draws.shape == (20_000, 4) and np.all(draws > 0)
    np.testing.assert_allclose(np.log(draws).std(axis=0), np.sqrt(np.diag(cov)), rtol=0.03)
    np.testing.assert_allclose(np.median(draws, axis=0), m.theta_, rtol=0.01)


# -- input validation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("x", "t_x", "T", "message"),
    [
        ([1, -1, 2], [1, 1, 1], [5, 5, 5], "1 row have negative"),
        ([1, 2, 2], [6, 7, 1], [5, 5, 5], "2 rows have recency greater than T"),
        ([0, 0, 2], [1, 0, 1], [5, 5, 5], "1 row have non-zero recency with zero frequency"),
        ([1, np.nan, 2], [1, 1, 1], [5, 5, 5], "1 row have NaN"),
        ([1.5, 2, 2.5], [1, 1, 1], [5, 5, 5], "2 rows have non-integer frequency"),
    ],
)
def test_invalid_histories_are_rejected(x, t_x, T, message):
    for cls in (BetaGeoModel, ParetoNBDModel, ModifiedBetaGeoModel):
        with pytest.raises(ValueError, match=message):
            cls().fit(x, t_x, T)


def test_gamma_gamma_rejects_zero_frequency_and_bad_spend():
    with pytest.raises(ValueError, match="2 rows have frequency 0.*frequency > 0"):
        GammaGammaModel().fit([0, 0, 1, 2], [0.0, 0.0, 10.0, 20.0])
    with pytest.raises(ValueError, match="1 row have non-positive or NaN monetary_value"):
        GammaGammaModel().fit([1, 2, 3], [10.0, -5.0, 20.0])


# -- fitting on compressed histories -----------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "theta"),
    [
        (BetaGeoModel, [0.3, 4.0, 0.8, 2.5]),
        (ModifiedBetaGeoModel, [0.5, 6.0, 0.9, 1.6]),
        (ParetoNBDModel, [0.55, 10.0, 0.6, 12.0]),  # alpha < beta branch of the 2F1
        (ParetoNBDModel, [0.55, 14.0, 0.6, 9.0]),  # alpha > beta branch
    ],
)
def test_compressed_likelihood_and_gradient_equal_the_per_row_sum(cdnow, cls, theta):
    """The fit's likelihood (per-x / per-T aggregates, 2F1 per distinct pair) equals the plain
    per-customer log-likelihood summed over customers; its gradient equals central finite
    differences of that sum."""
    from ltv._base import Histories

    model, theta = cls(), np.array(theta)
    rows = (cdnow["x"].to_numpy(), cdnow["t_x"].to_numpy(), cdnow["T"].to_numpy())
    histories = Histories.build(*rows)
    assert len(histories.weights) < len(cdnow) and histories.weights.sum() == len(cdnow)
    likelihood = model._likelihood(histories, histories.weights)
    ll, grad = likelihood.loglik_and_gradient(theta)
    assert ll == pytest.approx(model._log_likelihood(theta, *rows).sum(), rel=1e-12)
    assert likelihood.loglik(theta) == pytest.approx(ll, rel=1e-14)
    for j in range(4):
        step = np.zeros(4)
        step[j] = 1e-6
        up = model._log_likelihood(theta * np.exp(step), *rows).sum()
        down = model._log_likelihood(theta * np.exp(-step), *rows).sum()
        assert grad[j] == pytest.approx((up - down) / 2e-6, rel=1e-6, abs=1e-4)


@pytest.mark.parametrize("alpha_beta", [(10.0, 12.0), (14.0, 9.0), (5.0, 5.0)])
def test_pareto_likelihood_equals_numerical_integration(alpha_beta):
    """Pareto/NBD likelihood against the definition integrated by quadrature (SMC 1987):
    L = G(r+x) a^r b^s / G(r) [(a+T)^-(r+x) (b+T)^-s + s int_tx^T (a+u)^-(r+x) (b+u)^-(s+1) du]."""
    from scipy.integrate import quad
    from scipy.special import gammaln

    r, s = 0.55, 0.6
    alpha, beta = alpha_beta
    x = np.array([0.0, 1.0, 4.0, 12.0, 3.0])
    t_x = np.array([0.0, 2.0, 30.0, 70.0, 10.0])
    big_t = np.array([40.0, 5.0, 52.0, 71.0, 10.0])
    got = ParetoNBDModel()._log_likelihood(np.array([r, alpha, s, beta]), x, t_x, big_t)
    for i in range(len(x)):
        rx = r + x[i]
        integral = quad(
            lambda u, rx=rx: (alpha + u) ** -rx * (beta + u) ** -(s + 1), t_x[i], big_t[i]
        )[0]
        alive = (alpha + big_t[i]) ** -rx * (beta + big_t[i]) ** -s
        head = gammaln(rx) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
        assert got[i] == pytest.approx(head + np.log(alive + s * integral), rel=1e-9)


@pytest.mark.parametrize(
    ("cls", "published"),
    [
        (BetaGeoModel, {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}),
        (ParetoNBDModel, {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}),
    ],
)
def test_warm_start_and_newton_steps_reach_the_same_optimum(cdnow, cls, published, monkeypatch):
    """The large-data path (warm start on a subsample of histories, then Newton steps on all)
    gives the published CDNOW fit and the same optimum and covariance as plain L-BFGS-B."""
    from ltv.bgnbd import BetaGeoLikelihood
    from ltv.pareto_nbd import ParetoLikelihood

    plain = cls().fit(cdnow["x"], cdnow["t_x"], cdnow["T"])
    likelihood = BetaGeoLikelihood if cls is BetaGeoModel else ParetoLikelihood
    monkeypatch.setattr(likelihood, "thin_above", 100)
    fast = cls().fit(cdnow["x"], cdnow["t_x"], cdnow["T"])
    assert "Newton" in fast.optimizer_message_ and "Newton" not in plain.optimizer_message_
    assert fast.converged_
    for name, value in published.items():
        assert abs(fast.params_[name] - value) < 5e-4, name
        assert fast.params_[name] == pytest.approx(plain.params_[name], rel=1e-5)
    assert fast.log_likelihood_ == pytest.approx(plain.log_likelihood_, abs=1e-6)
    np.testing.assert_allclose(fast.params_cov_, plain.params_cov_, rtol=1e-3, atol=1e-9)


def test_distinct_rows_and_histories_match_pandas_groupby():
    from ltv._base import Histories, combined_codes, distinct_rows

    rng = np.random.default_rng(7)
    x = rng.integers(0, 5, 5000).astype(float)
    t_x = np.where(x > 0, rng.integers(0, 30, 5000) / 7, 0.0)
    big_t = t_x + rng.integers(0, 20, 5000) / 7
    frame = pd.DataFrame({"x": x, "t": t_x, "T": big_t})
    expected = frame.groupby(["x", "t", "T"], sort=True).size()
    (ux, ut, uT), counts, codes = distinct_rows(x, t_x, big_t)
    np.testing.assert_array_equal(ux, expected.index.get_level_values(0))
    np.testing.assert_array_equal(ut, expected.index.get_level_values(1))
    np.testing.assert_array_equal(uT, expected.index.get_level_values(2))
    np.testing.assert_array_equal(counts, expected.to_numpy())
    np.testing.assert_array_equal(ux[codes], x)
    np.testing.assert_array_equal(uT[codes], big_t)
    weights = rng.uniform(0.5, 2.0, 5000)
    h = Histories.build(x, t_x, big_t, weights)
    np.testing.assert_array_equal(h.x, ux)
    np.testing.assert_array_equal(h.t_x_values[h.t_x_code], ut)
    np.testing.assert_array_equal(h.T_values[h.T_code], uT)
    np.testing.assert_allclose(
        h.weights, frame.assign(w=weights).groupby(["x", "t", "T"])["w"].sum()
    )
    # codes too large for one int64 key fall back to grouping, same numbering
    a, b = rng.integers(0, 3, 100), rng.integers(0, 3, 100)
    small = combined_codes((a, 3), (b, 3))
    np.testing.assert_array_equal(combined_codes((a, 2**40), (b, 2**40)), small)
    np.testing.assert_array_equal(
        small, pd.DataFrame({"a": a, "b": b}).groupby(["a", "b"]).ngroup()
    )


@pytest.mark.parametrize(("cls", "shift"), [(BetaGeoModel, 0), (ModifiedBetaGeoModel, 1)])
def test_conditional_expectation_holds_far_beyond_the_hypergeometric_series(cls, shift):
    """Young customers and long horizons put t/(alpha+T) far above 1, where the 2F1 series
    diverges. Given alive, lambda ~ Gamma(r+x, alpha+T) and p ~ Beta(a, b+x+shift), and
    E[X(t) | lambda, p] = (1 - exp(-lambda p t)) / p, so integrating lambda out,
    E[X(T, T+t] | alive] = E_p[(1 - ((alpha+T)/(alpha+T+p t))^(r+x)) / p]: one quadrature over
    p, independent of the closed form."""
    from scipy import integrate, stats

    r, alpha, a, b = 0.8, 1.26, 2.12, 55.0
    model = _model(cls, {"r": r, "alpha": alpha, "a": a, "b": b})
    for x, t_x, big_t, t in [(11, 11.57, 11.71, 26.0), (3, 2.0, 2.5, 104.0), (0, 0.0, 0.3, 52.0)]:
        beta = stats.beta(a, b + x + shift)

        def integrand(p, x=x, big_t=big_t, t=t, beta=beta):
            quiet = ((alpha + big_t) / (alpha + big_t + p * t)) ** (r + x)
            return (1.0 - quiet) / p * beta.pdf(p)

        alive_mean, _ = integrate.quad(integrand, 0.0, 1.0, limit=200)
        alive = model.probability_alive([x], [t_x], [big_t])[0]
        got = model.expected_transactions(t, [x], [t_x], [big_t])[0]
        assert got == pytest.approx(alive * alive_mean, rel=1e-6)
        assert 0.0 <= got <= t * (r + x) / (alpha + big_t)
