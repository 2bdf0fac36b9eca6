"""An independent style classifier: trained on a labelled corpus, used to measure style ambiguity.

It shares nothing with any GAN's discriminator, so a generator cannot have learned to please it.
"""

from belamy.classify.model import StyleClassifier
from belamy.classify.store import Classifier, load_classifier, normalized_entropy
from belamy.classify.train import ClassifierReport, stratified_split, train_classifier

__all__ = [
    "Classifier", "ClassifierReport", "StyleClassifier", "load_classifier", "normalized_entropy",
    "stratified_split", "train_classifier",
]
