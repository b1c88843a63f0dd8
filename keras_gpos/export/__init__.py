"""SavedModel export for serving (TensorFlow-only by design)."""

from keras_gpos.export.saved_model import export_saved_model
