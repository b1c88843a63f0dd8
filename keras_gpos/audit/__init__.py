"""Position audit: one call that measures where any Keras model keeps position."""

from keras_gpos.audit.callback import PositionAuditCallback
from keras_gpos.audit.position_audit import PositionAudit
from keras_gpos.audit.position_audit import candidate_layers
from keras_gpos.audit.position_audit import default_layers
from keras_gpos.audit.position_audit import make_canvases
from keras_gpos.audit.position_audit import position_audit
