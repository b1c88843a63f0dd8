"""One decorator that makes a keras_gpos class serializable.

Every public layer, loss, metric and model is registered under the
`keras_gpos` package, so a `.keras` file written by one process loads in
another without `custom_objects`, and nobody can forget the package name.
"""

import keras

register = keras.saving.register_keras_serializable(package="keras_gpos")

__all__ = [
    "register"
]
