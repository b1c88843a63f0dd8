"""Position audit: one call that measures where any Keras model keeps position."""

from keras_gpos.audit.callback import PositionAuditCallback
from keras_gpos.audit.position_audit import PositionAudit
from keras_gpos.audit.canvases import make_canvases
from keras_gpos.audit.layers import candidate_layers
from keras_gpos.audit.layers import default_layers
from keras_gpos.audit.position_audit import position_audit

__all__ = [
    "PositionAuditCallback", "PositionAudit", "make_canvases", "candidate_layers", "default_layers",
    "position_audit"
]
