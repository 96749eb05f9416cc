"""Every registered check, by importing the modules that define them.

Import order is table order: the theorems in the order they were listed for checking (closed forms, prox, descent,
limit map, what the limit predictor certifies, small lambda, rate, angle, initialization), then the binary-activation
checks.
"""

import importlib

MODULES = (
    "closed_forms", "prox", "descent", "limit_map", "prediction", "small_lambda", "rate", "angle", "initialization",
    "binary", "fronts", "penalty_registry",
)

for _name in MODULES:
    importlib.import_module(f"{__package__}.{_name}")
