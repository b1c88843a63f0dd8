"""SavedModel export for serving (TensorFlow-only by design, imported when used)."""


def export_saved_model(model, path):
    """See `keras_gpos.export.saved_model.export_saved_model` (needs TensorFlow)."""
    from keras_gpos.base.backend import requires_tensorflow

    requires_tensorflow("keras_gpos.export.export_saved_model")
    from keras_gpos.export.saved_model import export_saved_model as export

    return export(model, path)

__all__ = [
    "export_saved_model"
]
