"""Figure ``real_data_tradeoff``: test accuracy against the fraction of exact zeros on scikit-learn's digits, for
RVSM with l1, l0 and TL1 (two betas), l1 proximal SGD and magnitude pruning with fine-tuning (and dense training).

The study (:mod:`numerics.real_data`): per seed, one stratified split, one start point and one mini-batch order shared
by every configuration (paired), all configurations of a seed trained as one stacked tensor program. Curves: each
seed's points interpolated linearly at a common sparsity grid, mean and 95 % Student-t interval over the seeds
(bands). Panel (b): paired differences to magnitude pruning at matched sparsity with their 95 % t-intervals; an
interval that contains 0 is a difference within the seed-to-seed noise.

``compute`` also writes ``real_data_tradeoff_points.csv``: every configuration of every seed (the raw points).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from paper_figures import style
from paper_figures.data import read_csv, read_meta, write_csv

NAME = "real_data_tradeoff"

MODEL_CODES = {"cnn": 0, "mlp": 1}
METHOD_CODES = {"rvsm_l1": 0, "rvsm_l0": 1, "rvsm_tl1": 2, "prox_l1": 3, "prune": 4, "dense": 5}
GRID = tuple(np.round(np.arange(0.1, 0.9001, 0.05), 4))

_GAMMA_RANGES = {"l1": (3e-4, 0.015), "tl1": (3e-4, 0.015), "l0": (0.005, 0.5)}


def _gammas(n: int) -> dict[str, tuple[float, ...]]:
    return {k: tuple(np.geomspace(lo, hi, n)) for k, (lo, hi) in _GAMMA_RANGES.items()}


PRESETS = {
    "tiny": {"seeds": (0, 1), "epochs": 2, "finetune_epochs": 1, "gammas": _gammas(6),
             "prune_targets": (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)},
    "quick": {"seeds": (0, 1, 2, 3, 4), "epochs": 12, "finetune_epochs": 4, "gammas": _gammas(10),
              "prune_targets": (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95)},
    "full": {"seeds": tuple(range(10)), "epochs": 45, "finetune_epochs": 15, "gammas": _gammas(16),
             "prune_targets": (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)},
}

COLUMNS = ("model", "method", "beta", "sparsity", "n_seeds", "acc_mean", "acc_lo", "acc_hi", "diff_ref_mean",
           "diff_ref_lo", "diff_ref_hi", "diff_l1_mean", "diff_l1_lo", "diff_l1_hi")
#: NaN means "not applicable": no beta (not RVSM), a grid point outside every seed's curve, no interval (< 2 seeds),
#: no difference to RVSM l1 (methods other than RVSM l0 / TL1)
NAN_COLUMNS = ("beta", "acc_mean", "acc_lo", "acc_hi", "diff_ref_mean", "diff_ref_lo", "diff_ref_hi", "diff_l1_mean",
               "diff_l1_lo", "diff_l1_hi")
DESCRIPTIONS = {
    "model": "0 = CNN (4 non-overlapping 4x4 patches, C shared filters, ReLU, linear read-out), 1 = MLP 64-H-10",
    "method": "0 = RVSM l1, 1 = RVSM l0, 2 = RVSM TL1, 3 = l1 proximal SGD, 4 = magnitude pruning + fine-tuning, "
              "5 = dense training",
    "beta": "RVSM coupling beta (NaN for the other methods)",
    "sparsity": "fraction of exact zeros among the penalized weights [1] (grid point; dense: its mean)",
    "n_seeds": "number of seeds whose curve covers this sparsity (interpolation, no extrapolation); means, "
               "intervals and differences are given only where all seeds do (NaN otherwise)",
    "acc_mean": "mean over those seeds of the test accuracy at this sparsity [1]",
    "acc_lo": "lower end of the 95 % Student-t interval of that mean [1]",
    "acc_hi": "upper end of that interval [1]",
    "diff_ref_mean": "mean paired difference (this method minus magnitude pruning) of test accuracy [1]",
    "diff_ref_lo": "lower end of its 95 % t-interval [1]",
    "diff_ref_hi": "upper end of its 95 % t-interval [1]",
    "diff_l1_mean": "mean paired difference to RVSM l1 at the same beta (RVSM l0 and TL1 only) [1]",
    "diff_l1_lo": "lower end of its 95 % t-interval [1]",
    "diff_l1_hi": "upper end of its 95 % t-interval [1]",
}
POINT_COLUMNS = ("model", "seed", "method", "beta", "gamma", "lam", "sparsity", "accuracy", "train_accuracy")
POINT_DESCRIPTIONS = {
    "model": "model code as in real_data_tradeoff.csv", "seed": "seed (split, start point, mini-batch order)",
    "method": "method code as in real_data_tradeoff.csv", "beta": "RVSM beta (NaN otherwise)",
    "gamma": "gradient threshold of the lam grid (numerics.real_data.lam_for_gamma); pruning: its target sparsity",
    "lam": "penalty weight lam (0 for pruning and dense)",
    "sparsity": "fraction of exact zeros among the penalized weights [1]",
    "accuracy": "test accuracy [1]", "train_accuracy": "training accuracy [1]",
}


def config(preset: str):
    """The :class:`numerics.real_data.StudyConfig` of a preset."""
    from numerics.real_data import StudyConfig

    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}; got {preset!r}")
    return StudyConfig(**PRESETS[preset])


def table(preset: str = "quick") -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict]:
    """Run the study for ``preset``: the curve rows (``COLUMNS``), the raw points (``POINT_COLUMNS``) and the
    metadata (every parameter, the study's wall time)."""
    import time

    from numerics import real_data

    cfg = config(preset)
    t0 = time.perf_counter()
    res = real_data.run_study(cfg)
    seconds = time.perf_counter() - t0
    summ = real_data.summarize(res, GRID)
    cols = {c: summ[c] for c in COLUMNS}
    cols["model"] = np.array([MODEL_CODES[m] for m in summ["model"]])
    cols["method"] = np.array([METHOD_CODES[m] for m in summ["method"]])
    meta = {"preset": preset, "seeds": list(cfg.seeds), "betas": list(cfg.betas), "lr": cfg.lr,
            "momentum": cfg.momentum, "epochs": cfg.epochs, "finetune_epochs": cfg.finetune_epochs,
            "batch_size": cfg.batch_size, "tl1_a": cfg.tl1_a, "filters": cfg.filters, "hidden": cfg.hidden,
            "test_fraction": cfg.test_fraction, "level": 0.95, "study_seconds": round(seconds, 1),
            "gammas": {k: list(v) for k, v in cfg.gammas.items()}, "prune_targets": list(cfg.prune_targets)}
    pts = {c: res[c] for c in POINT_COLUMNS}
    pts["model"] = np.array([MODEL_CODES[m] for m in res["model"]])
    pts["method"] = np.array([METHOD_CODES[m] for m in res["method"]])
    return cols, pts, meta


def compute(out_dir: Path, preset: str = "quick") -> Path:
    """Run the study, write ``real_data_tradeoff.csv`` (curves) and ``real_data_tradeoff_points.csv`` (raw)."""
    cols, pts, meta = table(preset)
    out_dir = Path(out_dir)
    write_csv(out_dir / f"{NAME}_points.csv", pts, POINT_DESCRIPTIONS,
              title="Real-data study: every configuration of every seed (digits)", meta=meta)
    return write_csv(out_dir / f"{NAME}.csv", cols, DESCRIPTIONS,
                     title="Accuracy-sparsity trade-off on scikit-learn digits: curves with 95 % t-intervals over "
                           "paired seeds, paired differences at matched sparsity", meta=meta)


def _isolated(ax: Any, x: np.ndarray, y: np.ndarray, lo: np.ndarray, hi: np.ndarray, color: str) -> None:
    """Grid points measured with no measured neighbour (a line cannot show them): a marker with its interval."""
    ok = np.isfinite(y)
    left = np.concatenate([[False], ok[:-1]])
    right = np.concatenate([ok[1:], [False]])
    alone = ok & ~left & ~right
    if alone.any():
        ax.errorbar(x[alone], y[alone], yerr=[y[alone] - lo[alone], hi[alone] - y[alone]], fmt="o", ms=3,
                    color=color, lw=0.8, capsize=2)


_STYLE = {  # method -> (color key or color, label)
    "rvsm_l1": ("l1", r"RVSM $\ell_1$"), "rvsm_l0": ("l0", r"RVSM $\ell_0$"), "rvsm_tl1": ("tl1", "RVSM TL1"),
    "prox_l1": ("#56B4E9", r"$\ell_1$ proximal SGD"), "prune": ("#333333", "magnitude pruning + fine-tuning"),
}


def _color(method: str) -> str:
    c = _STYLE[method][0]
    return style.PENALTY_COLORS.get(c, c)


def draw(csv_path: Path, out_dir: Path) -> list[Path]:
    """Per model: (a) accuracy against sparsity with 95 % bands, (b) paired differences to pruning; PNG + PDF."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    data, meta = read_csv(csv_path), read_meta(csv_path)
    inv_model = {v: k for k, v in MODEL_CODES.items()}
    inv_method = {v: k for k, v in METHOD_CODES.items()}
    models = [int(m) for m in np.unique(data["model"])]
    betas = list(meta["betas"])
    dashes = {b: ls for b, ls in zip(betas, ("-", "--", ":", "-."), strict=False)}
    with style.style_context():
        fig, axes = style.new_figure(len(models), 2, width=style.DOUBLE_COLUMN_IN, panel_aspect=0.62)
        for r, mcode in enumerate(models):
            ax_a, ax_b = axes[r, 0], axes[r, 1]
            sel_m = data["model"] == mcode
            dense = sel_m & (data["method"] == METHOD_CODES["dense"])
            if np.any(dense):
                i = np.flatnonzero(dense)[0]
                ax_a.axhline(data["acc_mean"][i], color="0.45", lw=0.8, ls=":")
                ax_a.axhspan(data["acc_lo"][i], data["acc_hi"][i], color="0.6", alpha=0.15, lw=0)
            for code in sorted(set(data["method"][sel_m].astype(int)) - {METHOD_CODES["dense"]}):
                method = inv_method[code]
                sel = sel_m & (data["method"] == code)
                for beta in np.unique(data["beta"][sel]):
                    s = sel & ((data["beta"] == beta) if np.isfinite(beta) else np.isnan(data["beta"]))
                    x = data["sparsity"][s]
                    ls = dashes.get(float(beta), "-") if np.isfinite(beta) else "-"
                    col = _color(method)
                    ax_a.plot(x, data["acc_mean"][s], color=col, ls=ls, lw=1.0)
                    ax_a.fill_between(x, data["acc_lo"][s], data["acc_hi"][s], color=col,
                                      alpha=0.08 if method == "prune" else 0.13, lw=0)
                    _isolated(ax_a, x, data["acc_mean"][s], data["acc_lo"][s], data["acc_hi"][s], col)
                    if method != "prune":
                        ax_b.plot(x, data["diff_ref_mean"][s], color=col, ls=ls, lw=1.0)
                        _isolated(ax_b, x, data["diff_ref_mean"][s], data["diff_ref_lo"][s], data["diff_ref_hi"][s],
                                  col)
                        ax_b.fill_between(x, data["diff_ref_lo"][s], data["diff_ref_hi"][s], color=col, alpha=0.13,
                                          lw=0)
            ax_b.axhline(0.0, color="black", lw=0.8)
            name = {"cnn": f"CNN (4 patches $4\\times4$, $C = {meta['filters']}$ filters)",
                    "mlp": f"MLP (64-{meta['hidden']}-10)"}[inv_model[mcode]]
            short = {"cnn": "CNN", "mlp": "MLP"}[inv_model[mcode]]
            letter = "abcdefgh"
            ax_a.set_title(f"({letter[2 * r]}) {name}: test accuracy")
            ax_b.set_title(f"({letter[2 * r + 1]}) {short}: accuracy minus pruning's (paired by seed)")
            ax_a.set_ylabel("test accuracy")
            ax_b.set_ylabel("accuracy difference")
            lo = np.nanmin(data["acc_lo"][sel_m & (data["sparsity"] <= 0.9)])
            ax_a.set_ylim(max(0.0, min(lo, 0.85) - 0.02), 1.0)
            for ax in (ax_a, ax_b):
                ax.set_xlim(GRID[0] - 0.02, GRID[-1] + 0.02)
                ax.set_xlabel("fraction of exact zeros in the penalized weights")
        handles = [Line2D([], [], color=_color(m), lw=1.0) for m in _STYLE]
        labels = [_STYLE[m][1] for m in _STYLE]
        handles += [Line2D([], [], color="0.6", ls=dashes[b], lw=1.0) for b in betas]
        labels += [rf"RVSM $\beta = {b:g}$" for b in betas]
        handles += [Line2D([], [], color="0.45", ls=":", lw=0.8), Patch(color="0.6", alpha=0.3)]
        labels += ["dense training (mean)", "95 % t-interval over seeds"]
        n_seeds = len(meta["seeds"])
        fig.legend(handles, labels, loc="outside lower center", ncol=5, fontsize=6.5,
                   title=f"scikit-learn digits, {n_seeds} paired seeds (split, start, batches); "
                         f"{meta['epochs'] + meta['finetune_epochs']} epochs for every method (pruning: "
                         f"{meta['epochs']} dense + {meta['finetune_epochs']} fine-tuning); lr = {meta['lr']:g}, "
                         f"momentum {meta['momentum']:g}; TL1 $a = {meta['tl1_a']:g}$\n"
                         "curves: each seed's sweep interpolated (not across a jump of more than 0.1 in sparsity), "
                         "shown where all seeds reach that sparsity; markers: a point with no measured neighbour",
                   title_fontsize=6.5)
    return style.save(fig, out_dir, NAME)


def make(out_dir: Path, preset: str = "quick") -> list[Path]:
    """Compute the data, draw it and save; return the written paths."""
    csv = compute(out_dir, preset)
    return [csv, *draw(csv, Path(out_dir))]
