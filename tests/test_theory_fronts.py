"""Tests for theory.fronts: the records verify, and every verification fails on a plausible wrong candidate."""

from __future__ import annotations

import pytest
import sympy as sp

from theory import fronts as T
from theory.registry import DERIVATIONS
from theory.symbols import k, ns, theta


@pytest.fixture(scope="module")
def l1_record():
    return T.derive_l1_front()


def test_l1_record_is_verified(l1_record):
    assert l1_record.name == "front_l1" and "front_l1" in DERIVATIONS
    assert l1_record.verified, [c for c in l1_record.checks if not c.passed]
    assert {"norm", "q", "lam", "segment_lam"} <= set(l1_record.statement)


def test_l0_record_is_verified():
    rec = T.derive_l0_front()
    assert rec.name == "front_l0" and "front_l0" in DERIVATIONS
    assert rec.verified, [c for c in rec.checks if not c.passed]


def test_wrong_b_fails():
    # a dropped sin t term (the same-patch part of the radial coefficient)
    assert not T.verify_q_affine((k**2 - k) * ns / (sp.pi * k**2)).passed


def test_wrong_norm_fails_symbolically_and_by_finite_differences(l1_record):
    wrong = T.s_sym * T.nv / T.c0_expr()  # b forgotten: the scale of q > 0 without its 1/|w| part
    assert not T.verify_l1_norm(wrong).passed
    assert not T.verify_l1_path_stationary(wrong, l1_record.statement["lam"], n_cases=3).passed
    assert not T.verify_envelope(wrong, l1_record.statement["lam"]).passed


def test_wrong_lam_fails(l1_record):
    wrong = T.kappa  # lam = kappa instead of kappa s (the threshold taken on w* itself)
    assert not T.verify_l1_kept_stationarity(wrong).passed
    assert not T.verify_l1_path_stationary(l1_record.statement["norm"], wrong, n_cases=3).passed


def test_wrong_segment_lam_fails():
    # the untied formula s a_max + b - c0 m used for T tied coordinates
    wrong = T.s_sym * T.a_max + T.b_sym - T.c0_expr() * T.m_sym
    assert not T.verify_segment_lam(wrong).passed


def test_wrong_l0_scale_fails():
    h = sp.sin(theta) + (sp.pi - theta) * sp.cos(theta)
    wrong = ns * h  # the cross-patch pull towards |w*| dropped
    assert not T.verify_l0_scale(wrong).passed
    assert not T.verify_l0_brute_force(wrong, n_cases=1, d_max=3).passed
    assert not T.verify_l0_brute_force(sp.nan, n_cases=1, d_max=3).passed
