"""Position audit: where a Keras model keeps absolute position, and whether in channel order.

`position_audit(model, data)` runs the paper's measurements on any model:

1. **Location decodability.** Each image is resized to a cell of a
   `grid_size x grid_size` canvas of the model's input size and pasted into
   every cell; the rest of the canvas is `background` (default 0.0, the
   dataset-mean colour for normalised images; `"mean"` fills with each
   image's own mean colour). A linear probe on each audited layer's globally
   average-pooled features predicts the cell. It is fitted on the canvases of
   one part of the images and scored on the canvases of the others (split by
   image, seeded), next to the chance level.
2. **Is position in the channel order?** The same probe on two order-free
   views of the pooled vector, views that a channel permutation cannot change:
   the `sorted` vector (the distribution of values) and the channel `sum`
   (all a linear head behind a fresh random permutation can read). The gap
   `ordered - sorted` is the position that lives only in which channel holds
   which value.
3. **Are semantics in the channel order?** With class labels, the same three
   probes for the class (on the same canvases), and the gaps side by side:
   the paper predicts the class survives the loss of order far better than
   location.
4. **Position channels.** Horizontal and vertical flip rankings of each layer
   (`keras_gpos.ranking`), computed on the images resized to the full input:
   the share of the total score held by the top 10% of channels, and the top
   channels.
5. **Impact** (optional, `impact_n=`): with segmentation masks, the clean
   mIoU and top-N vs random channel ablation with spread, region attacks and
   the region contrast (`AttackEvaluator.compare`); with class labels, the
   clean accuracy and top-N vs random accuracy drops.

Cost: one multi-output feature model per audit; every batch (canvases, the
resized images and both flips) goes through it in one forward pass for all
layers. Flip-ranking sums stream; the pooled features the probes need are
kept for the first `probe_images` images only, so memory stops growing there.

Probes: `keras_gpos.metrics.probe` (softmax regression, L2 1e-3 on
standardised features, at most 128 principal directions, L-BFGS to
convergence). Each probe records its per-image outcomes (correct cells of
every held-out image), so the verdicts (`keras_gpos.audit.verdicts`) test by
image; they are settled by Holm over the audit (`verdict_rule`). NumPy and
`keras.ops` only: runs on every backend.
"""

import collections
import dataclasses
import time
import warnings

import keras
import numpy as np

from keras_gpos.audit.canvases import make_canvases, resize_images, resize_masks
from keras_gpos.audit.impact import add_impact
from keras_gpos.audit.layers import DEFAULT_MAX_LAYERS, default_layers
from keras_gpos.audit.rendering import audit_markdown, audit_plot, save_audit_files
from keras_gpos.audit.verdicts import correct_audits, layer_verdicts
from keras_gpos.base import stats
from keras_gpos.base.backend import compiled_forward
from keras_gpos.base.graph import functional_view, is_functional, layer_output, subclassed_model_error
from keras_gpos.base.inputs import (
    batches, check_images, check_model_layout, class_labels, iterate, segmentation_masks)
from keras_gpos.base.progress import Progress
from keras_gpos.base.rendering import STATE_TEXT
from keras_gpos.base.verdicts import STATES
from keras_gpos.base.validation import check_positive_int
from keras_gpos.base.vocabulary import flip_axis
from keras_gpos.metrics.probe import MAX_FEATURES, VIEWS, degenerate_message, linear_probe, order_free_view
from keras_gpos.ranking.accumulator import FlipAccumulator
from keras_gpos.ranking.position_ranking import pooled_feature_model

TOP_SHARE = 0.10


@dataclasses.dataclass
class _LayerSums:
    channels: int
    features: list = dataclasses.field(default_factory=list)
    flips: dict = dataclasses.field(default_factory=dict)

    def add_flip(self, flip, z, z_flip):
        self.flips.setdefault(flip, FlipAccumulator()).add(z, z_flip)


def _read_labels(labels, images, index, num_classes, ignore_label):
    """Class labels `(N,)` or masks `(N, h, w)` through the base contracts (None stays None)."""
    if labels is None:
        return None
    labels = np.asarray(labels)
    what = f"position_audit: labels of batch {index}"
    if labels.ndim <= 2:
        return class_labels(labels, what, num_classes, count=len(images))
    if len(labels) != len(images):
        raise ValueError(f"{what}: {len(labels)} masks for {len(images)} images.")
    return segmentation_masks(labels, what, num_classes, ignore_label, spatial_shape=images.shape[1:3])


def _probe_views(features, targets, train_mask, num_classes, cells_per_image, seed, max_features):
    """The three probes of one layer and task, with per-image outcomes; `(probes, degenerate)`."""
    results, degenerate = {}, False
    for view in VIEWS:
        x = order_free_view(features, view)
        result = linear_probe(x[train_mask], targets[train_mask], x[~train_mask], targets[~train_mask],
                              num_classes=num_classes, warn=False, max_features=max_features)
        # Held-out canvases come image by image, every image in every cell.
        per_image = result.test_correct.reshape(-1, cells_per_image).sum(axis=1)
        results[view] = {"accuracy": result.accuracy, "train_accuracy": result.train_accuracy,
                         "chance": result.chance, "uniform_chance": result.uniform_chance,
                         "interval": stats.accuracy_interval(per_image, cells_per_image, seed=seed),
                         "per_image_correct": per_image.astype(int).tolist(), "trials": cells_per_image,
                         "constant_features": result.constant_features, "directions": result.directions}
        degenerate = degenerate or (view == "ordered" and result.degenerate)
    return results, degenerate


def _feature_callables(layers, impact_n):
    """The feature callables among `layers` (all of them, or none: a mix is refused)."""
    entries = list(layers or [])
    callables = [entry for entry in entries if callable(entry) and not isinstance(entry, keras.layers.Layer)]
    if callables and len(callables) != len(entries):
        raise ValueError("position_audit: layers mixes feature callables with layer names; give one kind "
                         "(callables can read any layer: layers=[lambda x: model.backbone(x), ...]).")
    if callables and impact_n:
        raise ValueError("position_audit: impact_n ablates channels inside the model's graph, which a feature "
                         "callable does not expose; audit a functional model by layer names for the ablation.")
    return callables


def callable_names(callables):
    """Names of feature callables in the audit: their `__name__`; a lambda is `features` (`features_<i>`)."""
    names = []
    for index, function in enumerate(callables):
        name = getattr(function, "__name__", "") or ""
        if not name or name == "<lambda>":
            name = "features" if len(callables) == 1 else f"features_{index}"
        names.append(name)
    if len(set(names)) != len(names):
        names = [f"{name}_{index}" for index, name in enumerate(names)]
    return names


def _callables_forward(callables):
    """One batch through every feature callable: the globally average-pooled maps, in order."""
    def forward(batch):
        pooled = []
        for function in callables:
            out = keras.ops.convert_to_numpy(function(keras.ops.convert_to_tensor(batch)))
            if out.ndim != 4:
                raise ValueError(f"position_audit: a feature callable returned shape {tuple(out.shape)}; expected "
                                 "a (batch, height, width, channels) feature map.")
            pooled.append(np.asarray(out, np.float64).mean(axis=(1, 2)))
        return pooled

    return forward


def _concentration(scores):
    order = np.argsort(-scores, kind="stable")
    top = max(1, int(round(TOP_SHARE * len(scores))))
    total = float(scores.sum())
    return (float(scores[order[:top]].sum() / total) if total > 0 else None), order


@dataclasses.dataclass(frozen=True)
class PositionAudit:
    """The audit of one model: per layer, probes, gaps, rankings and impact.

    Use `to_dict()` (JSON-ready), `to_markdown()`, `plot(path)` and
    `save(directory)` (results.json, results.md and results.png). Its
    `repr` is one line: the model, the layers and how many verdicts hold.
    """

    model: str
    input_shape: tuple
    grid_size: int
    background: object
    images: int
    probe_images: dict
    layers: list
    timing: dict
    labels: str
    verdict_rule: dict = None

    def __repr__(self):
        states = collections.Counter(verdict["state"] for layer in self.layers
                                     for verdict in (layer.get("verdicts") or {}).values())
        verdicts = ", ".join(f"{states[s]} {STATE_TEXT[s].replace(' here', '')}" for s in STATES if states[s])
        return (f"PositionAudit(model={self.model!r}, layers={[layer['name'] for layer in self.layers]}, "
                f"grid_size={self.grid_size}, images={self.images}, labels={self.labels!r}, "
                f"verdicts: {verdicts or 'none'})")

    def to_dict(self):
        return dataclasses.asdict(self)

    def to_markdown(self, title=None):
        """The audit's tables (see `keras_gpos.audit.rendering.audit_markdown`)."""
        return audit_markdown([self.to_dict()], title)

    def plot(self, path):
        """Saves the audit's figure as a PNG (`keras_gpos.audit.rendering.audit_plot`)."""
        return audit_plot([self.to_dict()], path)

    def save(self, directory):
        """Writes results.json, results.md and results.png into `directory`; returns their paths."""
        return save_audit_files(directory, [self.to_dict()])


def position_audit(model, data, layers=None, grid_size=3, background=0.0, input_shape=None,
                   train_fraction=0.5, probe_images=512, flips=("horizontal", "vertical"),
                   impact_n=None, impact_images=256, random_draws=10, num_classes=None, ignore_label=None,
                   batch_size=16, max_layers=DEFAULT_MAX_LAYERS, seed=0, verbose=1,
                   probe_features=MAX_FEATURES):
    """Measures where `model` keeps position, and whether it is in channel order.

    Args:
        model: a functional or Sequential Keras model (nested models and
            KerasHub/keras-cv/keras.applications models included), or a
            subclassed one with feature callables as `layers`.
        data: images, or `(images, labels)` / `(images, masks)`, in any form
            `keras_gpos.base.inputs.batches` takes, in the value range the
            model takes (normalise them first if it expects that).
        layers: layer names or `"outer/inner"` paths; default: up to
            `max_layers` stage ends spread over the depth (`default_layers`).
            Or, as the ranking takes them, *feature callables* `images ->
            (batch, h, w, channels)` in place of the names (the way to audit
            a subclassed model, e.g. `layers=[lambda x: model.backbone(x)]`;
            named by their `__name__`, a lambda `features` or `features_<i>`).
        grid_size: int >= 2. Cells per side of the location canvas.
        background: float or `"mean"`. Canvas fill (see the module docstring).
        input_shape: `(h, w, c)` for a model without a fixed input size
            (default: `grid_size` times the image size, the canvas of the
            paper's grid experiment).
        train_fraction: float in (0, 1). Share of the probe images the probes
            are fitted on (split by image).
        probe_images: int. Images whose canvases feed the probes (at least 4).
        flips: flips whose channel rankings are reported.
        impact_n: optional channel counts for the ablation (needs labels,
            and `flips`: the first flip's ranking is the one ablated).
        impact_images: int. The ablation is scored on the first
            `impact_images` images (resized to the input, masks by nearest
            neighbour), so its memory stays bounded.
        random_draws: int >= 2. Random channel sets per N for the ablation.
        num_classes, ignore_label: of the labels or masks (default: inferred).
        batch_size: int. Images per forward pass.
        max_layers: int. How many default layers.
        seed: int. Seed of the split, the random channel sets and the
            bootstraps of the verdicts.
        verbose: 0 silent, 1 progress (a bar in a terminal, plain lines in a log),
            2 one line at the end (`keras_gpos.base.progress`).
        probe_features: int or None. Principal directions each probe reads
            at most (`keras_gpos.metrics.probe.MAX_FEATURES`, 128; None: all,
            slower on wide layers).

    Returns:
        A `PositionAudit`.

    Raises:
        ValueError: layers that are not 4-D, too few images for a held-out
            split, labels that do not match the images, NaN/Inf activations
            (naming the layer), a model without a fixed input size and no
            `input_shape`, a subclassed model without feature callables, or
            feature callables mixed with names or with `impact_n`.

    Examples:
        >>> model = keras_gpos.models.build_classifier(4, (32, 32, 3), depth=10, width=4, head="fc")
        >>> images = np.random.default_rng(0).normal(size=(8, 16, 16, 3)).astype("float32")
        >>> audit = keras_gpos.audit.position_audit(model, images, layers=["stage4_out"], grid_size=2, verbose=0)
        >>> audit.layers[0]["location"]["ordered"]["chance"] <= 1.0
        True
    """
    check_positive_int(grid_size, "grid_size")
    if grid_size < 2:
        raise ValueError(f"grid_size must be >= 2 to ask where the image is; got {grid_size}.")
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must be in (0, 1); got {train_fraction!r}.")
    check_positive_int(probe_images, "probe_images")
    if impact_n:
        if not flips:
            raise ValueError("impact_n ablates the channels ranked by a flip; pass flips=('horizontal',) "
                             "(or both), not flips=().")
        for n in impact_n:
            check_positive_int(n, "impact_n entries")
        check_positive_int(impact_images, "impact_images")
    check_model_layout(model, "position_audit")
    callables = _feature_callables(layers, impact_n)
    if callables:
        graph = model if getattr(model, "inputs", None) else None
    elif isinstance(model, keras.Sequential) or is_functional(model):
        graph = functional_view(model)
    else:
        raise subclassed_model_error(model, "read a layer's output", argument="layers")
    shape = tuple(graph.inputs[0].shape[1:]) if graph is not None else (None, None, None)
    stream = batches(data, batch_size, name="position_audit data")
    it = iter(iterate(stream))
    first = next(it, None)
    if first is None:
        raise ValueError("position_audit got no images.")
    if None in shape:
        if input_shape is None:
            input_shape = (grid_size * first[1].shape[1], grid_size * first[1].shape[2],
                           shape[-1] or first[1].shape[-1])
        shape = tuple(input_shape)
    elif input_shape is not None and tuple(input_shape) != shape:
        raise ValueError(f"model {model.name!r} takes {shape}; input_shape={tuple(input_shape)} contradicts it.")
    if first[1].shape[-1] != shape[-1]:
        raise ValueError(f"position_audit: images have {first[1].shape[-1]} channel(s) (shape {first[1].shape}); "
                         f"model {model.name!r} takes {shape[-1]} (input (None, {', '.join(map(str, shape))})).")
    if callables:
        names = callable_names(callables)
        forward = _callables_forward(callables)
        channel_counts = None  # known after the first batch
    else:
        names = list(layers) if layers else default_layers(graph, max_layers)
        for name in names:
            out = layer_output(graph, name)
            if len(out.shape) != 4:
                raise ValueError(f"layer {name!r} outputs {tuple(out.shape)}, not a 4-D feature map; "
                                 "it cannot be audited.")
        forward = compiled_forward(pooled_feature_model(graph, names))
        channel_counts = [int(layer_output(graph, name).shape[-1]) for name in names]
        if impact_n and min(impact_n) > max(channel_counts):
            raise ValueError(f"impact_n={tuple(impact_n)} is larger than the channels of every audited layer "
                             f"({dict(zip(names, channel_counts))}); no ablation could run.")
    sums = None if channel_counts is None else [_LayerSums(c) for c in channel_counts]
    cells_per_image = grid_size * grid_size
    labels_seen, all_cells, kept = [], [], 0
    forward_seconds, total = 0.0, 0
    impact_data = []
    progress = Progress("position_audit", stream.count, verbose)

    def chunks():
        yield first
        yield from it

    for index, images, labels in chunks():
        images = check_images(images, f"position_audit: batch {index}", graph).astype("float32")
        if images.shape[-1] != shape[-1]:  # a feature callable's model may have no input to check against
            raise ValueError(f"position_audit: batch {index} has {images.shape[-1]} channel(s); the canvas "
                             f"has {shape[-1]} (input_shape {tuple(shape)}).")
        labels = _read_labels(labels, images, index, num_classes, ignore_label)
        full = resize_images(images, shape[0], shape[1])
        parts = [full]
        for flip in flips:
            parts.append(np.flip(full, axis=flip_axis(flip)))
        keep = max(0, min(len(images), probe_images - kept))
        if keep:
            canvases, cells = make_canvases(images[:keep], shape, grid_size, background)
            parts.append(canvases)
        batch = np.concatenate(parts)
        start = time.perf_counter()
        outputs = forward(batch)
        forward_seconds += time.perf_counter() - start
        outputs = outputs if isinstance(outputs, list) else [outputs]
        if sums is None:
            channel_counts = [int(out.shape[-1]) for out in outputs]
            sums = [_LayerSums(c) for c in channel_counts]
        count = len(images)
        for name, layer_sums, out in zip(names, sums, outputs):
            out = np.asarray(out, np.float64)
            if not np.all(np.isfinite(out)):
                raise ValueError(f"position_audit: layer {name!r} produced NaN or Inf activations on batch {index}.")
            z = out[:count]
            for position, flip in enumerate(flips, 1):
                layer_sums.add_flip(flip, z, out[position * count:(position + 1) * count])
            if keep:
                layer_sums.features.append(out[(1 + len(flips)) * count:].astype("float32"))
        if keep:
            all_cells.append(cells)
            if labels is not None:
                labels_seen.append(np.asarray(labels)[:keep])
        room = impact_images - sum(len(d[0]) for d in impact_data)
        if labels is not None and impact_n and room > 0:
            if labels.ndim == 3:
                labels = resize_masks(labels, shape[0], shape[1])
            impact_data.append((full[:room], labels[:room]))
        kept += keep
        total += count
        progress.update(total)
    progress.close()
    if kept < 4:
        raise ValueError(f"position_audit needs at least 4 images for a held-out split; got {kept}.")
    rng = np.random.default_rng(seed)
    order = rng.permutation(kept)
    train_images = set(order[: max(2, int(round(train_fraction * kept)))].tolist())
    if len(train_images) >= kept:
        train_images = set(order[: kept - 2].tolist())
    image_of_canvas = np.repeat(np.arange(kept), cells_per_image)
    train_mask = np.isin(image_of_canvas, list(train_images))
    cells = np.concatenate(all_cells)
    labels_kind = None
    class_targets = None
    if labels_seen:
        stacked = np.concatenate(labels_seen)
        if len(stacked) != kept:
            raise ValueError(f"position_audit: {len(stacked)} labels for {kept} images.")
        if stacked.ndim == 1:
            labels_kind = "class"
            class_targets = np.repeat(stacked, cells_per_image)
        else:
            labels_kind = "segmentation"
    probe_start = time.perf_counter()
    results = []
    for name, channels, layer_sums in zip(names, channel_counts, sums):
        features = np.concatenate(layer_sums.features)
        location, degenerate = _probe_views(features, cells, train_mask, cells_per_image, cells_per_image, seed,
                                            probe_features)
        entry = {"name": name, "channels": channels, "location": location, "class": None}
        if class_targets is not None:
            entry["class"], _ = _probe_views(features, class_targets, train_mask, int(class_targets.max()) + 1,
                                             cells_per_image, seed, probe_features)
        if degenerate:  # once per layer, not once per probe
            warnings.warn(degenerate_message(f"the pooled features of layer {name!r}"), stacklevel=2)
        entry["degenerate_features"] = degenerate
        entry["gaps"] = {
            task: None if entry[task] is None else {
                "ordered_minus_sorted": entry[task]["ordered"]["accuracy"] - entry[task]["sorted"]["accuracy"],
                "ordered_minus_sum": entry[task]["ordered"]["accuracy"] - entry[task]["sum"]["accuracy"],
            } for task in ("location", "class")
        }
        entry["verdicts"] = {v.claim: v.to_dict() for v in layer_verdicts(entry, seed)}
        entry["rankings"] = {}
        for flip, accumulator in layer_sums.flips.items():
            overall = accumulator.overall
            concentration, ranked = _concentration(overall)
            entry["rankings"][flip] = {"top_10pct_share": concentration,
                                       "top_channels": ranked[: min(10, channels)].tolist(),
                                       "overall": overall.tolist(), "signed": accumulator.signed.tolist(),
                                       "images": int(accumulator.count)}
        results.append(entry)
    probe_seconds = time.perf_counter() - probe_start
    if impact_n:
        if not impact_data:
            raise ValueError("impact_n needs labels or masks with the images.")
        add_impact(graph, names, results, impact_data, impact_n, random_draws, labels_kind,
                    num_classes, ignore_label, seed, flips)
    audit = PositionAudit(
        model=model.name, input_shape=tuple(int(v) for v in shape), grid_size=grid_size,
        background=background, images=total,
        probe_images={"train": int(train_mask.sum() // cells_per_image),
                      "test": int((~train_mask).sum() // cells_per_image)},
        layers=results,
        timing={"forward_seconds": forward_seconds, "probe_seconds": probe_seconds,
                "forward_images": int(total * (1 + len(flips)) + kept * cells_per_image),
                "backend": keras.config.backend()},
        labels=labels_kind or "none",
    )
    settled = correct_audits([audit.to_dict()])[0]
    return dataclasses.replace(audit, layers=settled["layers"], verdict_rule=settled["verdict_rule"])
