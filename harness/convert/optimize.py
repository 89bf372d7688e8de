"""Weight-changing steps on tf_keras models: pruning and clustering (tensorflow-model-optimization)
and knowledge distillation into a half-width student.

All training here is distillation from the original model (the teacher): the loss matches the
teacher's softened outputs (temperature T), plus the true labels when y_train is given. The same
loss fine-tunes pruned and clustered models, so they need only x_train, never a task-specific loss.
Without training data, pruning and clustering are one-shot (no fine-tuning) and say so.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from harness.convert import tfenv
from harness.convert.progress import StepReport

BATCH_SIZE = 32
TEMPERATURE = 4.0
HARD_LABEL_WEIGHT = 0.1
PRUNE_EPOCHS = 4
PRUNE_LEARNING_RATE = 5e-4
PRUNE_RAMP_FRACTION = 0.6  # sparsity reaches its target after this share of the fine-tuning steps
CLUSTER_EPOCHS = 2
CLUSTER_LEARNING_RATE = 1e-4
DISTILL_EPOCHS = 20
DISTILL_LEARNING_RATE = 1e-3
STUDENT_WIDTH = 0.5
CHANNELS_EPOCHS = 4
CHANNELS_LEARNING_RATE = 5e-4
LOWRANK_EPOCHS = 2
LOWRANK_LEARNING_RATE = 5e-4
QAT_EPOCHS = 2
QAT_LEARNING_RATE = 1e-4
_EPSILON = 1e-7
REPORT_INTERVAL_S = 0.5  # batch-level progress at most this often (epoch starts always)


class OptimizeError(Exception):
    """A step that cannot be applied to this model; the message says why."""


@dataclass(frozen=True)
class TrainingData:
    x: np.ndarray
    labels: np.ndarray | None  # class ids
    teacher_outputs: np.ndarray
    output_kind: str  # "probabilities" | "logits" | "values"

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.x) / BATCH_SIZE)

    def targets(self) -> np.ndarray:
        # Keras passes one y_true to the loss: teacher outputs, then the label as a last column.
        if self.labels is None:
            return self.teacher_outputs
        return np.concatenate([self.teacher_outputs, self.labels.reshape(-1, 1).astype(np.float32)], axis=1)


def training_data(teacher, x_train: np.ndarray, labels: np.ndarray | None) -> TrainingData:
    if len(teacher.outputs) != 1:
        raise OptimizeError(f"fine-tuning supports single-output models (this one has {len(teacher.outputs)})")
    outputs = np.asarray(teacher.predict(x_train, batch_size=256, verbose=0), dtype=np.float32)
    outputs = outputs.reshape(len(outputs), -1)
    return TrainingData(x_train, labels if outputs.shape[1] > 1 else None, outputs, _output_kind(outputs))


def _output_kind(outputs: np.ndarray) -> str:
    if outputs.shape[1] < 2:
        return "values"
    if outputs.min() >= 0 and np.allclose(outputs.sum(axis=1), 1.0, atol=1e-3):
        return "probabilities"
    return "logits"


def distillation_loss(data: TrainingData):
    """Hinton et al.'s loss: T^2 * KL(teacher_T || student_T) + w * cross-entropy(labels)."""
    tf, _, _ = tfenv.tensorflow()
    n_outputs = data.teacher_outputs.shape[1]
    kind = data.output_kind
    with_labels = data.labels is not None

    def as_logits(values):
        # softmax(log p) == p, so log-probabilities are logits of the same distribution.
        return tf.math.log(tf.clip_by_value(values, _EPSILON, 1.0)) if kind == "probabilities" else values

    def loss(y_true, y_pred):
        y_pred = tf.reshape(y_pred, [tf.shape(y_pred)[0], -1])
        teacher = y_true[:, :n_outputs]
        if kind == "values":
            return tf.reduce_mean(tf.square(teacher - y_pred), axis=-1)
        teacher_soft = tf.nn.softmax(as_logits(teacher) / TEMPERATURE)
        student_log_soft = tf.nn.log_softmax(as_logits(y_pred) / TEMPERATURE)
        soft = tf.reduce_sum(
            teacher_soft * (tf.math.log(tf.clip_by_value(teacher_soft, _EPSILON, 1.0)) - student_log_soft), axis=-1
        )
        total = (TEMPERATURE**2) * soft
        if not with_labels:
            return total
        labels = tf.cast(y_true[:, n_outputs], tf.int32)
        hard = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=as_logits(y_pred))
        return (1.0 - HARD_LABEL_WEIGHT) * total + HARD_LABEL_WEIGHT * hard

    return loss


def fine_tune(
    model, data: TrainingData, report: StepReport, *, epochs: int, learning_rate: float, callbacks=()
) -> None:
    _, tf_keras, _ = tfenv.tensorflow()
    model.compile(optimizer=tf_keras.optimizers.Adam(learning_rate), loss=distillation_loss(data))
    callbacks = [*callbacks, epoch_reporter(report, "fine-tuning", epochs)]
    model.fit(data.x, data.targets(), epochs=epochs, batch_size=BATCH_SIZE, shuffle=True, verbose=0, callbacks=callbacks)


def epoch_reporter(report: StepReport, step: str, epochs: int):
    """A Keras callback reporting `step` as "epoch i/n" with the fraction of all epochs done."""
    _, tf_keras, _ = tfenv.tensorflow()

    class EpochReporter(tf_keras.callbacks.Callback):
        epoch = 0
        reported_s = 0.0

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch
            self._report(0, force=True)

        def on_train_batch_end(self, batch, logs=None):
            self._report(batch + 1)

        def _report(self, batches_done: int, force: bool = False) -> None:
            now = time.monotonic()
            if force or now - self.reported_s >= REPORT_INTERVAL_S:
                self.reported_s = now
                steps = self.params.get("steps") or 1
                report(step, f"epoch {self.epoch + 1}/{epochs}", (self.epoch + min(1, batches_done / steps)) / epochs)

    return EpochReporter()


def _training_details(data: TrainingData | None, epochs: int, learning_rate: float) -> dict:
    if data is None:
        return {"fine_tuned": False}
    return {
        "fine_tuned": True,
        "epochs": epochs,
        "learning_rate": learning_rate,
        "batch_size": BATCH_SIZE,
        "n_train": len(data.x),
        "loss": "distillation from the original model"
        + (f" + {HARD_LABEL_WEIGHT} x cross-entropy on y_train" if data.labels is not None else ""),
        "temperature": TEMPERATURE if data.output_kind != "values" else None,
    }


def clone(model):
    """An independent copy (same architecture and weights) that a step may change."""
    _, tf_keras, _ = tfenv.tensorflow()
    copy = tf_keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def prune(model, sparsity: float, data: TrainingData | None, report: StepReport) -> tuple[object, dict]:
    """Magnitude pruning of every prunable kernel to `sparsity`, fine-tuned when data is given."""
    _, _, tfmot = tfenv.tensorflow()
    sparsity_api = tfmot.sparsity.keras
    if data is None:
        schedule = sparsity_api.ConstantSparsity(sparsity, begin_step=0, frequency=1)
    else:
        total_steps = data.steps_per_epoch * PRUNE_EPOCHS
        schedule = sparsity_api.PolynomialDecay(
            initial_sparsity=0.0,
            final_sparsity=sparsity,
            begin_step=0,
            end_step=max(1, int(total_steps * PRUNE_RAMP_FRACTION)),
            frequency=max(1, total_steps // 20),
        )
    wrapped, unsupported = wrap_supported_layers(
        model, lambda layer: sparsity_api.prune_low_magnitude(layer, pruning_schedule=schedule)
    )
    if not _prune_wrappers(wrapped):
        raise OptimizeError("tensorflow-model-optimization supports none of this model's layers for pruning")
    if data is None:
        _prune_once(wrapped)
    else:
        fine_tune(
            wrapped,
            data,
            report,
            epochs=PRUNE_EPOCHS,
            learning_rate=PRUNE_LEARNING_RATE,
            callbacks=[sparsity_api.UpdatePruningStep()],
        )
    zeros, total = _pruned_weight_counts(wrapped)
    stripped = sparsity_api.strip_pruning(wrapped)
    details = {
        "target_sparsity": sparsity,
        "achieved_sparsity": round(zeros / total, 4) if total else None,
        "pruned_weight_count": total,
        "layers_left_alone": unsupported,
        **_training_details(data, PRUNE_EPOCHS, PRUNE_LEARNING_RATE),
    }
    return stripped, details


def wrap_supported_layers(model, wrap) -> tuple[object, list[str]]:
    """The model with `wrap` (a tfmot prune/cluster wrapper) applied to every layer tfmot supports;
    the others (e.g. Rescaling, custom layers) stay as they are, and their class names are returned."""
    _, tf_keras, _ = tfenv.tensorflow()
    left_alone: list[str] = []

    def wrap_if_supported(layer):
        if not layer.weights:  # activations, adds, reshapes: nothing to prune or cluster
            return layer
        try:
            return wrap(layer)
        except ValueError:  # tfmot's answer for "not a supported layer"
            left_alone.append(type(layer).__name__)
            return layer

    wrapped = tf_keras.models.clone_model(model, clone_function=wrap_if_supported)
    return wrapped, sorted(set(left_alone))


def _prune_wrappers(model):
    # tfmot's PruneLowMagnitude wrappers are the layers carrying a pruning object.
    return [layer for layer in model.layers if getattr(layer, "pruning_obj", None) is not None]


def _prune_once(wrapped) -> None:
    """Without training data: compute each mask once from the current magnitudes and apply it."""
    for layer in _prune_wrappers(wrapped):
        layer.pruning_step.assign(0)  # step 0 is a pruning step of ConstantSparsity(begin_step=0)
        layer.pruning_obj.conditional_mask_update()
        layer.pruning_obj.weight_mask_op()


def _pruned_weight_counts(wrapped) -> tuple[int, int]:
    zeros = total = 0
    for layer in _prune_wrappers(wrapped):
        for weight, _mask, _threshold in layer.pruning_vars:
            values = weight.numpy()
            zeros += int(np.count_nonzero(values == 0))
            total += values.size
    return zeros, total


def cluster(
    model, clusters: int, data: TrainingData | None, report: StepReport, *, preserve_sparsity: bool
) -> tuple[object, dict]:
    """Weight clustering to `clusters` shared values per kernel, fine-tuned when data is given."""
    _, _, tfmot = tfenv.tensorflow()
    clustering = tfmot.clustering.keras
    wrapped, unsupported = wrap_supported_layers(
        model,
        lambda layer: clustering.cluster_weights(
            layer,
            number_of_clusters=clusters,
            cluster_centroids_init=clustering.CentroidInitialization.KMEANS_PLUS_PLUS,
            preserve_sparsity=preserve_sparsity,
        ),
    )
    if data is not None:
        fine_tune(wrapped, data, report, epochs=CLUSTER_EPOCHS, learning_rate=CLUSTER_LEARNING_RATE)
    stripped = clustering.strip_clustering(wrapped)
    kernels = [w for w in stripped.get_weights() if w.ndim > 1]
    # tfmot leaves some kernels alone (e.g. depthwise kernels): say how much really is clustered.
    clustered = [w for w in kernels if len(np.unique(w)) <= clusters]
    details = {
        "clusters": clusters,
        "clustered_weight_share": round(sum(w.size for w in clustered) / max(1, sum(w.size for w in kernels)), 4),
        "unclustered_kernel_count": len(kernels) - len(clustered),
        "sparsity_preserved": preserve_sparsity,
        "layers_left_alone": unsupported,
        **_training_details(data, CLUSTER_EPOCHS, CLUSTER_LEARNING_RATE),
    }
    return stripped, details


def distill(teacher, data: TrainingData | None, report: StepReport) -> tuple[object, dict]:
    """A student at STUDENT_WIDTH of the teacher's width, trained on the teacher's soft outputs."""
    if data is None:
        raise OptimizeError("distillation needs training data: pass --data FILE.npz with x_train")
    student = half_width(teacher)
    fine_tune(student, data, report, epochs=DISTILL_EPOCHS, learning_rate=DISTILL_LEARNING_RATE)
    return student, {
        "student_width": STUDENT_WIDTH,
        "teacher_params": int(teacher.count_params()),
        "student_params": int(student.count_params()),
        **_training_details(data, DISTILL_EPOCHS, DISTILL_LEARNING_RATE),
    }


_WIDTH_ATTRIBUTES = ("filters", "units")


def half_width(model):
    """The teacher's architecture with every hidden layer's filters/units scaled by STUDENT_WIDTH,
    freshly initialised. Output layers keep their size."""
    _, tf_keras, _ = tfenv.tensorflow()
    output_layers = set(model.output_names)

    def narrower(layer):
        config = layer.get_config()
        if layer.name not in output_layers:
            for attribute in _WIDTH_ATTRIBUTES:
                if isinstance(config.get(attribute), int):
                    config[attribute] = max(1, round(config[attribute] * STUDENT_WIDTH))
        return layer.__class__.from_config(config)

    try:
        student = tf_keras.models.clone_model(model, clone_function=narrower)
    except Exception as e:  # shapes that do not follow the width (Reshape to a fixed size, ...)
        raise OptimizeError(f"cannot build a half-width student of this architecture: {e}") from None
    if student.count_params() >= model.count_params():
        raise OptimizeError("the half-width student is not smaller than the teacher (no filters/units to narrow)")
    return student



def apply_keras_steps(model, level, data: TrainingData | None, report: StepReport, details: dict):
    """A level's Keras steps in their fixed order (levels.py); each adds its details entry.
    Raises OptimizeError or restructure.RestructureError when a step does not apply."""
    from harness.convert import restructure

    if level.distilled:
        model, details["distillation"] = distill(model, data, report)
    if level.channels_percent is not None:
        report("removing channels")
        model, details["channels"] = restructure.remove_channels(model, level.channels_percent)
        details["channels"].update(_fine_tune_if_possible(model, data, report, CHANNELS_EPOCHS, CHANNELS_LEARNING_RATE))
    if level.rank is not None:
        report("factoring kernels")
        model, details["lowrank"] = restructure.factor_low_rank(model, level.rank)
        details["lowrank"].update(_fine_tune_if_possible(model, data, report, LOWRANK_EPOCHS, LOWRANK_LEARNING_RATE))
    if level.sparsity_percent is not None:
        model, details["pruning"] = prune(model, level.sparsity_percent / 100, data, report)
    if level.clusters is not None:
        model, details["clustering"] = cluster(
            model, level.clusters, data, report, preserve_sparsity=level.sparsity_percent is not None
        )
    if level.quantization == "qat-int8":
        model, details["quantization_aware_training"] = quantization_aware(model, data, report)
    return model


def _fine_tune_if_possible(model, data: TrainingData | None, report: StepReport, epochs: int, rate: float) -> dict:
    if data is not None:
        fine_tune(model, data, report, epochs=epochs, learning_rate=rate)
    return _training_details(data, epochs, rate)


def quantization_aware(model, data: TrainingData | None, report: StepReport) -> tuple[object, dict]:
    """tfmot's quantize_model (fake-quantization of weights and activations), fine-tuned with the
    distillation loss so that the int8 conversion that follows loses less."""
    if data is None:
        raise OptimizeError("quantization-aware training needs training data: pass --data FILE.npz with x_train")
    _, _, tfmot = tfenv.tensorflow()
    try:
        aware = tfmot.quantization.keras.quantize_model(model)
    except (ValueError, RuntimeError) as e:  # layers tfmot cannot quantize-annotate
        raise OptimizeError(f"tensorflow-model-optimization cannot make this model quantization-aware: {e}") from None
    fine_tune(aware, data, report, epochs=QAT_EPOCHS, learning_rate=QAT_LEARNING_RATE)
    return aware, _training_details(data, QAT_EPOCHS, QAT_LEARNING_RATE)
