"""DeepLearning: genmodel's DeeplearningMojoModel (one-hot inputs, dense layers, softmax or linear).

Read as DeeplearningMojoReader reads `model.ini`: weights are stored as float32 and multiplied as
doubles, biases are doubles. Scoring follows `score0`: categoricals one-hot (a missing level takes
the extra last slot of its column, as does a level index past it), numerics standardised and a
missing numeric set to 0 whatever `missing_values_handling` was (genmodel ignores `mean_imputation`
and `cat_modes`), then each layer's sums (`network_kernel`, genmodel's order), its activation, and
for the *WithDropout activations the hidden layer's output times (1 - hidden_dropout_ratio), as
genmodel does at scoring; `input_dropout_ratio` is not in the MOJO and is not applied.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shared.mojo import labels
from shared.mojo.archive import MojoArchive, MojoInfo
from shared.mojo.errors import MojoInputError, UnsupportedMojoError
from shared.mojo.network_kernel import weighted_sums
from shared.mojo.scorer import FloatArray, check_common, n_classes, prior_distribution

DEEPLEARNING_MOJO_VERSIONS = ("1.10",)
_ACTIVATIONS = (
    "Tanh",
    "TanhWithDropout",
    "Rectifier",
    "RectifierWithDropout",
    "Maxout",
    "MaxoutWithDropout",
)
_CLASSIFIER_DISTRIBUTIONS = ("bernoulli", "multinomial")
# DeeplearningMojoModel.linkInv for a regression's output: exp (capped at 1e19) or identity.
_EXP_LINK = ("poisson", "tweedie")  # gamma too in genmodel; refused: no test trains one
_IDENTITY_LINK = ("gaussian", "laplace", "quantile", "huber")
_CHUNK_ROWS = 1024  # rows through the whole network at once: each layer's output stays in L2
_MAXOUT_CHANNELS = 2  # H2O's Maxout neurons; genmodel's max over channels is only right for 2


@dataclass(frozen=True)
class _Layer:
    """One layer: its weights as doubles (neurons x inputs), biases, and what follows the sums."""

    weights: FloatArray
    bias: FloatArray
    activation: str
    dropout: float
    channels: int

    def forward(self, inputs: FloatArray) -> FloatArray:
        """NeuralNetwork.fprop1Layer for every row (inputs and result are neurons x rows)."""
        if self.channels > 1:
            # formNNInputsMaxOut: channel k of neuron j is row j * channels + k, one running sum.
            sums = weighted_sums(inputs, self.weights, self.bias, stripes=1)
            channels = sums.reshape(-1, self.channels, sums.shape[1])
            out = channels[:, 0]
            # MaxoutOut compares channel 0 with itself, then with channel 1 (a `>` keeps the first).
            for k in (0, 1):
                out = np.where(out > channels[:, k], out, channels[:, k])
        else:
            rectifier = self.activation.startswith("Rectifier")
            out = weighted_sums(inputs, self.weights, self.bias, stripes=8, rectify=rectifier)
            if self.activation.startswith("Tanh"):
                out = 1.0 - 2.0 / (1.0 + np.exp(2.0 * out))
            elif not rectifier:  # Softmax or Linear: the output layer, finished by the scorer
                return out
        if self.activation.endswith("WithDropout") and self.dropout > 0:
            out = out * (1.0 - self.dropout)
        return out


class DeepLearningScorer:
    """hex.genmodel.algos.deeplearning.DeeplearningMojoModel."""

    def __init__(self, archive: MojoArchive, info: MojoInfo) -> None:
        if info.category == "AutoEncoder" or info.flag("autoencoder"):
            raise UnsupportedMojoError("DeepLearning autoencoder=true (reconstruction output)")
        check_common(info, DEEPLEARNING_MOJO_VERSIONS)
        encoding = info.text("_genmodel_encoding")
        if encoding != "AUTO":
            raise UnsupportedMojoError(f"DeepLearning categorical_encoding '{encoding}'")
        self._n_classes = n_classes(info)
        self._classifier = info.category != "Regression"
        self._distribution = info.text("distribution")
        allowed = _CLASSIFIER_DISTRIBUTIONS if self._classifier else _EXP_LINK + _IDENTITY_LINK
        if self._distribution not in allowed:
            raise UnsupportedMojoError(
                f"DeepLearning distribution '{self._distribution}' for a {info.category} model "
                f"(supported: {', '.join(allowed)})"
            )
        activation = info.text("activation")
        if activation not in _ACTIVATIONS:
            raise UnsupportedMojoError(
                f"DeepLearning activation '{activation}' (supported: {', '.join(_ACTIVATIONS)})"
            )
        self._cats = info.integer("cats")
        self._nums = info.integer("nums")
        self._offsets = _array(info, "cat_offsets").astype(np.int64)
        self._all_levels = info.flag("use_all_factor_levels")
        norm_mul = _array(info, "norm_mul")
        self._norm_mul = norm_mul if norm_mul.size else None
        self._norm_sub = _array(info, "norm_sub")
        resp_mul = _array(info, "norm_resp_mul")
        resp_sub = _array(info, "norm_resp_sub")
        self._resp = (float(resp_mul[0]), float(resp_sub[0])) if resp_mul.size else None
        self._threshold = info.number("default_threshold")
        self._prior = prior_distribution(info)
        self._layers = self._read_layers(info, activation)
        self._check_shapes(info)

    @staticmethod
    def _read_layers(info: MojoInfo, activation: str) -> list[_Layer]:
        units = [int(u) for u in _array(info, "neural_network_sizes")]
        dropouts = _array(info, "hidden_dropout_ratios").tolist()
        if len(units) < 2 or len(dropouts) != len(units) - 1:
            raise UnsupportedMojoError(
                f"DeepLearning with layer sizes {units} and dropout ratios {dropouts}"
            )
        layers = []
        last = len(units) - 2
        for index in range(len(units) - 1):
            # float32 weights, as DeeplearningMojoReader narrows them before multiplying as doubles.
            weights = _array(info, f"weight_layer{index}").astype(np.float32)
            bias = _array(info, f"bias_layer{index}")
            inputs, neurons = units[index], units[index + 1]
            name = (
                activation
                if index < last
                else ("Softmax" if info.category != "Regression" else "Linear")
            )
            channels = len(bias) // neurons if name.startswith("Maxout") else 1
            if name.startswith("Maxout") and channels != _MAXOUT_CHANNELS:
                raise UnsupportedMojoError(f"DeepLearning Maxout with {channels} channels")
            if len(bias) != neurons * channels or weights.size != inputs * neurons * channels:
                raise UnsupportedMojoError(
                    f"DeepLearning layer {index}: {weights.size} weights and {len(bias)} biases "
                    f"for {inputs} inputs and {neurons} neurons"
                )
            if channels > 1:
                # Stored as [neuron][input][channel]; the kernel wants one row per neuron-channel.
                weights = weights.reshape(neurons, inputs, channels).transpose(0, 2, 1)
            matrix = np.ascontiguousarray(weights.reshape(neurons * channels, inputs), np.float64)
            layers.append(_Layer(matrix, bias, name, dropouts[index], channels))
        return layers

    def _check_shapes(self, info: MojoInfo) -> None:
        width = self._layers[0].weights.shape[1]
        outputs = self._layers[-1].weights.shape[0]
        expected_outputs = self._n_classes if self._classifier else 1
        if (
            self._cats + self._nums != info.n_features
            or len(self._offsets) != self._cats + 1
            or int(self._offsets[-1]) + self._nums != width
            or outputs != expected_outputs
            or (
                self._norm_mul is not None
                and not len(self._norm_mul) == len(self._norm_sub) == self._nums
            )
        ):
            raise UnsupportedMojoError(
                f"DeepLearning input layer of {width} and output layer of {outputs} neurons do "
                f"not fit {self._cats} categorical and {self._nums} numeric columns and "
                f"{expected_outputs} outputs"
            )

    def _input_layer(self, rows: FloatArray) -> FloatArray:
        """GenModel.setInput: one-hot categoricals then standardised numerics (neurons x rows)."""
        count = len(rows)
        layer = np.zeros((self._layers[0].weights.shape[1], count))
        everyone = np.arange(count)
        for c in range(self._cats):
            last_slot = self._offsets[c + 1] - 1
            value = rows[:, c]
            missing = np.isnan(value)
            level = np.where(missing, 0, value).astype(np.int64)
            if self._all_levels:
                slot = level + self._offsets[c]
            else:  # level 0 has no slot
                slot = np.where(level == 0, -1, level - 1 + self._offsets[c])
            # A missing level, or one past the column's slots, takes its last (NA) slot.
            slot = np.where(missing | (slot > last_slot), last_slot, slot)
            hot = slot >= 0
            layer[slot[hot], everyone[hot]] = 1.0
        numbers = rows[:, self._cats : self._cats + self._nums].T
        if self._norm_mul is not None:
            numbers = (numbers - self._norm_sub[:, None]) * self._norm_mul[:, None]
        start = int(self._offsets[-1])
        layer[start:] = np.where(np.isnan(numbers), 0.0, numbers)
        return layer

    def score(self, rows: FloatArray) -> FloatArray:
        """score0 for every row, a cache-sized chunk of rows at a time."""
        if len(rows) <= _CHUNK_ROWS:
            return self._score_chunk(rows)
        chunks = [
            self._score_chunk(rows[start : start + _CHUNK_ROWS])
            for start in range(0, len(rows), _CHUNK_ROWS)
        ]
        result: FloatArray = np.concatenate(chunks)
        return result

    def _score_chunk(self, rows: FloatArray) -> FloatArray:
        values = self._input_layer(rows)
        # Infinite inputs give inf - inf = NaN on the way, which genmodel refuses at the end too.
        with np.errstate(over="ignore", invalid="ignore"):
            for layer in self._layers:
                values = layer.forward(values)
            return self._finish(values, rows)

    def _finish(self, values: FloatArray, rows: FloatArray) -> FloatArray:
        """modifyOutputs: softmax and the label, or the de-standardised regression value."""
        if self._classifier:
            probabilities = _softmax(values).T
            if np.isnan(probabilities).any():
                raise MojoInputError(_nan_message(probabilities, "class probability"))
            if self._n_classes == 2:
                label = labels.binomial_labels(probabilities[:, 1], self._threshold)
            else:
                label = labels.multinomial_labels(probabilities, rows, self._prior)
            return labels.classification_preds(probabilities, label)
        predicted = values[0]
        if self._resp is not None:
            predicted = predicted / self._resp[0] + self._resp[1]
        if self._distribution in _EXP_LINK:
            predicted = np.minimum(1e19, np.exp(predicted))
        result: FloatArray = predicted[:, None]
        if np.isnan(result).any():
            raise MojoInputError(_nan_message(result, "regression target"))
        return result


def _softmax(values: FloatArray) -> FloatArray:
    """ActivationUtils.SoftmaxOut over classes (rows of `values`), summed in class order."""
    top = values[0]
    for value in values:
        top = np.where(top < value, value, top)
    exps = np.exp(values - top)
    scaling = np.zeros(values.shape[1])
    for value in exps:
        scaling = scaling + value
    result: FloatArray = exps / scaling
    return result


def _nan_message(preds: FloatArray, what: str) -> str:
    row = int(np.flatnonzero(np.isnan(preds).any(axis=1))[0])
    return f"row {row}: predicted {what} NaN (genmodel refuses to score it too)"


def _array(info: MojoInfo, key: str) -> FloatArray:
    """A `[a, b, ...]` entry of model.ini; empty when absent or null (readkv's default)."""
    values = info.optional_numbers(key)
    return np.empty(0) if values is None else values
