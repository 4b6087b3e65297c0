"""converge's JVM-free MOJO runtime: scores H2O-3 MOJOs exactly like h2o-genmodel's PredictCsv."""

from shared.mojo.errors import MojoInputError, UnsupportedMojoError
from shared.mojo.loader import load_mojo
from shared.mojo.model import MojoModel

__all__ = ["MojoInputError", "MojoModel", "UnsupportedMojoError", "load_mojo"]
