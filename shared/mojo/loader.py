"""`load_mojo`: open and check an H2O-3 MOJO zip, or hand a Driverless AI pipeline to daimojo."""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import numpy as np

from shared.mojo.archive import MojoArchive, MojoInfo
from shared.mojo.categorical_encoding import EncodedScorer, read_input_encoding
from shared.mojo.daimojo_backend import DaimojoModel, load_pipeline
from shared.mojo.errors import UnsupportedMojoError
from shared.mojo.model import MojoModel
from shared.mojo.scorer import Scorer
from shared.mojo.threshold import label_threshold

SUPPORTED_ALGOS = (
    "gbm",
    "drf",
    "xgboost",
    "glm",
    "deeplearning",
    "stackedensemble",
    "isolationforest",
    "extendedisolationforest",
    "kmeans",
    "gam",
    "rulefit",
)


def load_mojo(path: str | Path) -> MojoModel | DaimojoModel:
    """Load a MOJO; refuses (UnsupportedMojoError) anything it cannot score like genmodel does."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no MOJO file at {path}")
    if not zipfile.is_zipfile(path):
        if _is_driverless_pipeline(path):
            return load_pipeline(path)
        raise UnsupportedMojoError(
            f"{path} is neither an H2O-3 MOJO zip nor a Driverless AI pipeline"
        )
    try:
        return _load_h2o_mojo(path)
    except UnsupportedMojoError:
        raise
    except (
        ValueError,
        struct.error,
        IndexError,
        KeyError,
        SyntaxError,
        RecursionError,
        zipfile.BadZipFile,
    ) as error:
        raise UnsupportedMojoError(f"{path} is damaged or malformed: {error!r}") from error


def _load_h2o_mojo(path: Path) -> MojoModel:
    with zipfile.ZipFile(path) as bundle:
        archive = MojoArchive(bundle)
        if not archive.exists("model.ini"):
            if archive.exists("mojo-pipeline/pipeline.mojo"):
                raise UnsupportedMojoError(
                    f"{path} is a Driverless AI mojo.zip: load the pipeline.mojo inside it"
                )
            raise UnsupportedMojoError(f"{path} is a zip without model.ini: not an H2O-3 MOJO")
        info = archive.model_info()
        scorer = make_scorer(archive, info)  # first: it names an unsupported algorithm
        threshold = label_threshold(archive, info)
        encoding = read_input_encoding(archive, info)
    encoder = None
    if encoding is not None:  # users send the original columns; genmodel encodes them
        scorer = EncodedScorer(encoding, scorer)
        info, encoder = encoding.input_info(info), encoding.row_encoder()
    # A GAM reads its gam columns raw: what a user sends is not model.ini's feature list.
    info = getattr(scorer, "input_info", info)
    # Score one row of zeros (level 0, offset 0) now: it loads the compiled kernel (so the first
    # request does not pay for it) and proves the model scores at all before anyone relies on it.
    # Not all-missing: a GLM trained with missing_values_handling=Skip cannot score that.
    scorer.score(np.zeros((1, info.n_features + (info.offset_column is not None))))
    return MojoModel.from_info(info, scorer, encoder, threshold)


def make_scorer(archive: MojoArchive, info: MojoInfo) -> Scorer:
    """The scorer for `info.algo`, reading whatever blobs it needs from `archive`."""
    from shared.mojo.deeplearning import DeepLearningScorer
    from shared.mojo.ensemble import EnsembleScorer
    from shared.mojo.extended_isolation_forest import ExtendedIsolationForestScorer
    from shared.mojo.gam import GamScorer
    from shared.mojo.glm import GlmScorer
    from shared.mojo.isolation_forest import IsolationForestScorer
    from shared.mojo.kmeans import KMeansScorer
    from shared.mojo.rulefit import RuleFitScorer
    from shared.mojo.tree_models import DrfScorer, GbmScorer
    from shared.mojo.xgboost_model import XGBoostScorer

    algo = info.algo
    if algo == "gbm":
        return GbmScorer(archive, info)
    if algo == "drf":
        return DrfScorer(archive, info)
    if algo == "xgboost":
        return XGBoostScorer(archive, info)
    if algo == "glm":
        return GlmScorer(archive, info)
    if algo == "deeplearning":
        return DeepLearningScorer(archive, info)
    if algo == "stackedensemble":
        return EnsembleScorer(archive, info, make_scorer)
    if algo == "isolationforest":
        return IsolationForestScorer(archive, info)
    if algo == "extendedisolationforest":
        return ExtendedIsolationForestScorer(archive, info)
    if algo == "kmeans":
        return KMeansScorer(info)
    if algo == "gam":
        return GamScorer(archive, info)
    if algo == "rulefit":
        return RuleFitScorer(archive, info, make_scorer)
    raise UnsupportedMojoError(f"algorithm '{algo}' (supported: {', '.join(SUPPORTED_ALGOS)})")


def _is_driverless_pipeline(path: Path) -> bool:
    # Driverless AI writes a FlatBuffers `pipeline.mojo`; H2O-3 MOJOs are always zips.
    return path.suffix == ".mojo"
