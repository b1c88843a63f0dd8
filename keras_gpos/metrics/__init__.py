"""Metrics: region IoU, shift consistency and linear probes (NumPy and keras.ops only)."""

from keras_gpos.metrics.agreement import ShiftConsistency
from keras_gpos.metrics.consistency import accuracy_vs_shift
from keras_gpos.metrics.consistency import consistency_and_accuracy
from keras_gpos.metrics.consistency import consistency_by_protocol
from keras_gpos.metrics.consistency import shift_consistency
from keras_gpos.metrics.consistency import view_latent_distance
from keras_gpos.metrics.probe import ProbeResult
from keras_gpos.metrics.probe import linear_probe
from keras_gpos.metrics.probe import order_free_view
from keras_gpos.metrics.probe import position_probe
from keras_gpos.metrics.region_iou import REGIONS
from keras_gpos.metrics.region_iou import RegionMeanIoU
from keras_gpos.metrics.region_iou import confusion_matrix
from keras_gpos.metrics.region_iou import iou_from_confusion
from keras_gpos.metrics.region_iou import region_mask

__all__ = [
    "ShiftConsistency", "accuracy_vs_shift", "consistency_and_accuracy", "consistency_by_protocol",
    "shift_consistency", "view_latent_distance", "ProbeResult", "linear_probe", "order_free_view", "position_probe",
    "REGIONS", "RegionMeanIoU", "confusion_matrix", "iou_from_confusion", "region_mask"
]
