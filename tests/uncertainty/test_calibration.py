"""Calibration metrics on synthetic residuals with known σ."""

import numpy as np
import pytest
from scipy import stats

from mlip_gnn.uncertainty.calibration import (calibration_report, miscalibration_area, rank,
                                              spearman)


@pytest.fixture(scope="module")
def residuals():
    rng = np.random.default_rng(0)
    sigma = rng.uniform(0.05, 2.0, 40000)
    return rng.normal(0.0, sigma), sigma


def test_calibrated_sigma_has_no_miscalibration_area(residuals):
    r, sigma = residuals
    assert miscalibration_area(r, sigma) < 0.01


@pytest.mark.parametrize("factor", [0.5, 2.0])
def test_sigma_off_by_two_gives_about_0_2(residuals, factor):
    """Exact values for N(0, σ²) residuals and k σ: mean over p of
    |P(|z| < k Φ⁻¹((1+p)/2)) - p|; 0.207 for k = 0.5 and 0.205 for k = 2."""
    r, sigma = residuals
    p = np.linspace(0.01, 0.99, 99)
    exact = np.mean(np.abs(2 * stats.norm.cdf(factor * stats.norm.ppf(0.5 + p / 2)) - 1 - p))
    area = miscalibration_area(r, factor * sigma)
    assert area == pytest.approx(exact, abs=0.005)
    assert 0.18 < area < 0.23


def test_nll_and_spearman_against_references(residuals):
    r, sigma = residuals
    report = calibration_report(r[:500], sigma[:500])
    expected_nll = -np.mean(stats.norm.logpdf(r[:500], scale=sigma[:500]))
    assert report["nll"] == pytest.approx(expected_nll, rel=1e-12)
    assert report["spearman"] == pytest.approx(
        stats.spearmanr(sigma[:500], np.abs(r[:500])).statistic, rel=1e-12)
    # σ that ranks errors well correlates; a shuffled σ does not
    assert report["spearman"] > 0.4
    shuffled = np.random.default_rng(1).permutation(sigma[:500])
    assert abs(spearman(shuffled, np.abs(r[:500]))) < 0.1


def test_ties_share_their_mean_rank():
    np.testing.assert_array_equal(rank(np.array([3.0, 1.0, 3.0, 2.0])), [3.5, 1, 3.5, 2])
    assert spearman(np.array([1.0, 2.0, 2.0, 5.0]), np.array([0.1, 0.3, 0.2, 9.0])) == \
        pytest.approx(stats.spearmanr([1, 2, 2, 5], [0.1, 0.3, 0.2, 9.0]).statistic)
    assert np.isnan(spearman(np.ones(4), np.arange(4.0)))


def test_zero_sigma_is_counted_and_left_out_of_nll_and_area(residuals):
    r, sigma = residuals
    r, sigma = r[:1000].copy(), sigma[:1000].copy()
    full = calibration_report(r[1:], sigma[1:])
    sigma[0] = 0.0
    report = calibration_report(r, sigma)
    assert report["zero_sigma"] == 1 and report["count"] == 1000
    assert report["nll"] == pytest.approx(full["nll"], rel=1e-12)
    assert report["miscalibration_area"] == pytest.approx(full["miscalibration_area"])
