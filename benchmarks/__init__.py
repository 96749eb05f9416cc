"""Benchmarks of the numerics engine against what a researcher would write instead and against the machine's limits.

``python -m benchmarks [--quick] [--out DIR]`` runs three workloads in one process, so that every ratio is measured
side by side:

- **W1** population RVSM in batch (:func:`numerics.run` on a :class:`numerics.Problem` with the default
  :class:`numerics.Population` gradient, the closed form), B trials x d for T iterations, each penalty (l1, l0, TL1);
- **W2** empirical RVSM (:class:`numerics.Empirical`): N samples of k patches shared by B trials (two matrix products
  per iteration);
- **W3** the Monte Carlo estimate of the loss and its gradient at one point from N samples.

Each workload is timed for the engine on every installed backend, for a per-trial NumPy loop and a per-trial PyTorch
autograd version (:mod:`benchmarks.reference`), and against the machine's limits measured in the same run
(:mod:`benchmarks.limits`). Every comparator's result is compared with the engine's on the trials it ran.
"""
