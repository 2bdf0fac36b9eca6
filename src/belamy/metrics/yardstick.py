"""The measures beside SWD, and the real-vs-real floors that say what "as good as paintings" reads as.

SWD compares colour and texture statistics; these see the rest: the classifier two-sample test
(belamy.metrics.two_sample: AUC 0.5 = indistinguishable), precision/recall/density/coverage on
random features (belamy.metrics.prdc: fidelity and diversity apart), and both again on pictures
averaged down to 16² (``*_lowpass``: layout and light, not brushwork). A floor is the same measure
with paintings standing in for the generated pictures, on sets of the same sizes.
"""

from __future__ import annotations

import numpy as np

from belamy.metrics.prdc import prdc
from belamy.metrics.two_sample import two_sample_test


def yardstick(reals_fit, fakes_fit, reals_test, fakes_test, seed: int = 0) -> dict:
    """The two-sample test (trained on the fit sets, scored on the test sets) and PRDC of the test sets."""
    record: dict = {}
    for structure, suffix in ((False, ""), (True, "_lowpass")):
        test = two_sample_test(reals_fit, fakes_fit, reals_test, fakes_test, seed=seed, structure=structure)
        record[f"two_sample_auc{suffix}"] = test["auc"]
        record[f"two_sample_accuracy{suffix}"] = test["accuracy"]
        record.update({f"{k}{suffix}": v for k, v in prdc(reals_test, fakes_test, seed=seed, structure=structure).items()})
    return record


def yardstick_with_floor(reals_fit, reals_test, fakes, spare_reals, seed: int = 0) -> dict:
    """The yardstick of ``fakes``, and its floor: the same with ``spare_reals`` in their place.

    The fit sets are ``reals_fit`` against as many generated pictures (or spare paintings), the test
    sets ``reals_test`` against as many fresh ones; ``fakes`` and ``spare_reals`` (paintings in
    neither set) each need len(reals_fit) + len(reals_test). Floor keys end in ``_floor``.
    """
    n_fit, n_test = len(reals_fit), len(reals_test)
    record = yardstick(reals_fit, fakes[:n_fit], reals_test, fakes[n_fit : n_fit + n_test], seed)
    floor = yardstick(reals_fit, spare_reals[:n_fit], reals_test, spare_reals[n_fit : n_fit + n_test], seed)
    record.update({f"{k}_floor": v for k, v in floor.items()})
    return record


def split_paintings(count: int, parts: int, size: int, seed: int = 0) -> list[np.ndarray]:
    """``parts`` disjoint sorted index sets of ``size`` paintings out of ``count``, fixed by ``seed``."""
    order = np.random.default_rng(seed).permutation(count)
    return [np.sort(order[i * size : (i + 1) * size]) for i in range(parts)]
