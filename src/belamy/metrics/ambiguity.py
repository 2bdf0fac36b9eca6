"""What a style classifier says about a set of images: how ambiguous their style is, and which styles.

CAN (Elgammal et al. 2017) claims its images depart from every known style while staying art; these
figures measure the first half with a classifier that had no part in training the GAN:

- ``ambiguity``: the mean normalised entropy of the classifier's posterior (0 = it names one style with
  certainty, 1 = every style equally likely), beside the same for real paintings it never saw, and
  ``ambiguity_se``, the standard error of that mean;
- ``style_share``: the fraction of images whose most probable style is each one.
"""

from __future__ import annotations

import numpy as np
import torch

from belamy.classify.store import Classifier, normalized_entropy
from belamy.corpus.store import Corpus, open_corpus
from belamy.errors import BelamyError


def style_figures(clf: Classifier, images, prefix: str = "") -> dict:
    """``{prefix}ambiguity`` and ``{prefix}style_share`` for float 0..255 NCHW images (or uint8 NHWC arrays)."""
    probs = clf.posterior(images)
    top = probs.argmax(dim=1)
    share = torch.bincount(top, minlength=len(clf.names)).double() / max(1, len(top))
    entropy = normalized_entropy(probs).double()
    return {
        f"{prefix}ambiguity": round(float(entropy.mean()), 4),
        # the standard error of that mean over the images: two sets differ clearly when far more than it apart
        f"{prefix}ambiguity_se": round(float(entropy.std() / len(entropy) ** 0.5) if len(entropy) > 1 else 0.0, 4),
        f"{prefix}style_share": {name: round(float(s), 4) for name, s in zip(clf.names, share, strict=True)},
    }


def heldout_paintings(clf: Classifier) -> tuple[Corpus, np.ndarray]:
    """The classifier's corpus and the indices of the paintings it never trained on."""
    source = clf.info.get("corpus") or {}
    held = clf.heldout_indices()
    try:
        corpus = open_corpus(source.get("path", ""))
    except BelamyError as err:
        raise BelamyError(f"the classifier's corpus cannot be opened: {err.message}",
                          "keep the corpus the classifier was trained on where it was, or train it again") from None
    if len(corpus) != source.get("count") or (len(held) and held.max() >= len(corpus)):
        raise BelamyError(f"{corpus.path} has changed since the classifier was trained on it",
                          "train the classifier again on the corpus as it is now")
    return corpus, held


def without_shared(training: Corpus, heldout: Corpus, held: np.ndarray) -> np.ndarray:
    """Indices of the training images that are not among the held-out ones (same file contents), so
    held-out paintings are never measured against themselves when both come from one corpus."""
    held_hashes = {heldout.manifest[int(i)].get("sha256") for i in held} - {None}
    return np.array([i for i, r in enumerate(training.manifest) if r.get("sha256") not in held_hashes], dtype=np.int64)
