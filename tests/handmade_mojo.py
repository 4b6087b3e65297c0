"""A GLM MOJO written by hand: a real MOJO the runtime loads, made without an H2O JVM.

eta = beta[colour level] + 3 * size + intercept; missing colour -> mode (green), missing size ->
mean 2.5. The intercept varies the bytes, so each call can make a distinct artifact.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from shared.versions import pinned_versions

MODEL_INI = """[info]
h2o_version = {h2o_version}
mojo_version = 1.00
algo = glm
category = Regression
n_features = 2
n_classes = 1
n_columns = 3
n_domains = 1
balance_classes = false
default_threshold = 0.5
prior_class_distrib = null
model_class_distrib = null
escape_domain_values = true
use_all_factor_levels = true
cats = 1
cat_offsets = [0, 3]
nums = 1
mean_imputation = true
num_means = [2.5]
cat_modes = [1]
beta = [0.5, -1.0, 2.0, 3.0, {intercept!r}]
family = gaussian
link = identity

[columns]
colour
size
target

[domains]
0: 3 d000.txt
"""
COEFFICIENTS = {"red": 0.5, "green": -1.0, "blue": 2.0}
FEATURES = ["colour", "size"]


def write_glm_mojo(path: Path, intercept: float = 10.0, h2o_version: str | None = None) -> Path:
    """Write the hand-made GLM MOJO to `path` and return it."""
    version = h2o_version or pinned_versions().h2o_version
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as bundle:
        bundle.writestr("model.ini", MODEL_INI.format(h2o_version=version, intercept=intercept))
        bundle.writestr("domains/d000.txt", "red\ngreen\nblue\n")
    return path
