"""The paper's training recipe: Adam with beta_1 0.5 and sparse cross-entropy on logits.

One owner for how a keras_gpos classifier is compiled: the location,
classification and AugShift experiments and the benchmarks all call
`compile_classifier`, so a timed step is the step the experiments train.
"""

import keras

# The paper's Adam (Islam et al. 2021): learning rate 1e-3, beta_1 0.5.
LEARNING_RATE = 1e-3
BETA_1 = 0.5


def paper_adam(learning_rate=LEARNING_RATE, beta_1=BETA_1):
    """`keras.optimizers.Adam` with the paper's beta_1 (0.5) and Keras' beta_2 (0.999).

    Args:
        learning_rate: float or a `keras.optimizers.schedules` schedule.
        beta_1: float in [0, 1).
    """
    return keras.optimizers.Adam(learning_rate, beta_1=beta_1, beta_2=0.999)


def compile_classifier(model, learning_rate=LEARNING_RATE, beta_1=BETA_1):
    """Compiles a logits classifier (or an `AugShiftModel`) the way every experiment trains one.

    Loss: sparse categorical cross-entropy on logits; metric `accuracy`.
    Returns the model.

    Examples:
        >>> model = keras_gpos.models.build_classifier(4, (32, 32, 3), depth=10, width=4, head="fc")
        >>> model = keras_gpos.training.compile_classifier(model)
        >>> model.optimizer.beta_1
        0.5
    """
    model.compile(
        optimizer=paper_adam(learning_rate, beta_1),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    return model
