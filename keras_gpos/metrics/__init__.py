"""Metrics: region-restricted segmentation IoU (backend-agnostic: keras.ops only)."""

from keras_gpos.metrics.region_iou import REGIONS, RegionMeanIoU, confusion_matrix, iou_from_confusion, region_mask
from keras_gpos.metrics.consistency import ShiftConsistency, accuracy_vs_shift, consistency_and_accuracy, shift_consistency, view_latent_distance
