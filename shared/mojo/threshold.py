"""The P(class 1) cut-off that labels a binomial MOJO's rows, read from its `model.ini`.

genmodel labels class 1 where P(class 1) >= the model's `default_threshold`; a model that labels
through a nested model uses that one's: a StackedEnsemble its metalearner, RuleFit its linear
model. Other categories (regression, multinomial, ...) have no such threshold.
"""

from __future__ import annotations

from shared.mojo.archive import MojoArchive, MojoInfo

# The nested model that produces a composite model's probabilities, by algo.
_LABELLED_BY = {"stackedensemble": "metalearner", "rulefit": "linear_model"}


def label_threshold(archive: MojoArchive, info: MojoInfo) -> float | None:
    """The threshold the runtime labels `info`'s binomial rows with (None: not binomial)."""
    if info.category != "Binomial":
        return None
    nested_key = _LABELLED_BY.get(info.algo)
    if nested_key is None:
        return info.number("default_threshold")
    directories = {
        info.text(f"submodel_key_{i}"): info.text(f"submodel_dir_{i}")
        for i in range(info.integer("submodel_count"))
    }
    nested = archive.nested(directories[info.text(nested_key)])
    return label_threshold(nested, nested.model_info())
