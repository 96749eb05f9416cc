"""The ordered list of derivations that ``python -m theory`` runs and reports.

Entries are ``"module:function"`` strings resolved on demand, so that listing the names does not pay for importing
(and deriving) everything.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from .record import Derivation

#: name -> "module:function" (module relative to the ``theory`` package), in report order.
DERIVATIONS: dict[str, str] = {
    "gaussian_moments": "gaussian:derive_gaussian_moments",
    "population_loss": "loss:derive_population_loss",
    "gradient": "loss:derive_gradient",
    "critical_points": "critical_points:derive_critical_points",
    "prox_l1": "thresholding:derive_prox_l1",
    "prox_l0": "thresholding:derive_prox_l0",
    "prox_tl1": "thresholding:derive_prox_tl1",
    "fixed_point_equations": "fixed_points:derive_fixed_point_equations",
    "limit_map_l1": "fixed_points:derive_limit_map_l1",
    "limit_map_l0": "fixed_points:derive_limit_map_l0",
    "limit_map_tl1": "fixed_points:derive_limit_map_tl1",
    "kept_root_stability": "stability:derive_kept_root_stability",
    "initialization_probability": "initialization:derive_initialization_probability",
    "small_lambda_expansion": "expansion:derive_small_lambda_expansion",
    "binary_moments": "binary:derive_binary_moments",
    "binary_loss": "binary:derive_binary_loss",
    "coarse_gradient": "binary:derive_coarse_gradient",
    "coarse_gradient_correlation": "binary:derive_coarse_gradient_correlation",
    "binary_split_collapse": "binary_limits:derive_binary_split_collapse",
    "binary_split_fixed_points": "binary_limits:derive_binary_split_fixed_points",
    "front_l1": "fronts:derive_l1_front",
    "front_l0": "fronts:derive_l0_front",
    "penalty_machinery": "penalty_machinery:derive_penalty_machinery",
    "penalty_l1": "penalty_machinery:derive_penalty_l1",
    "penalty_l0": "penalty_machinery:derive_penalty_l0",
    "penalty_tl1": "penalty_machinery:derive_penalty_tl1",
    "penalty_mcp": "penalty_machinery:derive_penalty_mcp",
    "penalty_scad": "penalty_machinery:derive_penalty_scad",
    "penalty_l_half": "penalty_machinery:derive_penalty_l_half",
    "penalty_log_sum": "penalty_machinery:derive_penalty_log_sum",
    "limit_map_general": "penalty_machinery:derive_limit_map_general",
}


def get(name: str) -> Callable[[], Derivation]:
    """Return the derivation function registered under ``name``.

    Raises
    ------
    ValueError
        If ``name`` is not registered (the message lists the known names).
    """
    try:
        target = DERIVATIONS[name]
    except KeyError:
        raise ValueError(f"unknown derivation {name!r}; known: {', '.join(DERIVATIONS)}") from None
    module_name, func_name = target.split(":")
    module = importlib.import_module(f"{__package__}.{module_name}")
    return getattr(module, func_name)
