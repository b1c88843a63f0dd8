"""The audit's optional impact: zero the top-N flip-ranked channels of each layer vs N random ones."""

import warnings

import numpy as np

from keras_gpos.base.backend import compiled_forward
from keras_gpos.base.stats import baseline_summary, empirical_p_value
from keras_gpos.base.vocabulary import SIDES


def _ranking_of(entry, flip):
    from keras_gpos.ranking.position_ranking import PositionRanking

    record = entry["rankings"][flip]
    overall, signed = np.asarray(record["overall"]), np.asarray(record["signed"])
    return PositionRanking(overall, signed, np.zeros_like(overall), flip, record["images"],
                           {"layer": entry["name"]})


def add_impact(graph, names, results, impact_data, impact_n, random_draws, labels_kind, num_classes,
                ignore_label, seed, flips):
    from keras_gpos.attacks import AttackEvaluator, get_channel_mask, insert_channel_mask
    from keras_gpos.attacks.comparison import random_channel_sets

    images = np.concatenate([d[0] for d in impact_data])
    labels = np.concatenate([d[1] for d in impact_data])
    flip = flips[0]
    for name, entry in zip(names, results):
        attacked = insert_channel_mask(graph, name)
        ranking = _ranking_of(entry, flip)
        ns = [n for n in impact_n if n <= entry["channels"]]
        # N values above a layer's channels cannot be ablated there: said in the result and warned.
        entry["impact_skipped_n"] = [n for n in impact_n if n > entry["channels"]]
        if entry["impact_skipped_n"]:
            warnings.warn(f"position_audit: layer {name!r} has {entry['channels']} channels; impact_n values "
                          f"{entry['impact_skipped_n']} are larger and were not ablated there.", UserWarning,
                          stacklevel=3)
        if not ns:
            entry["impact"] = None
            continue
        if labels_kind == "segmentation":
            # The model's own class count (its masks may not show every class), else the masks' largest id.
            outputs = getattr(graph, "outputs", None) or []
            labelled = labels[labels != (-1 if ignore_label is None else ignore_label)]
            dense = len(outputs) == 1 and len(outputs[0].shape) == 4
            classes = num_classes or (int(outputs[0].shape[-1]) if dense else int(labelled.max()) + 1)
            halves = SIDES[flip]
            evaluator = AttackEvaluator(attacked, (images, labels), classes, ignore_label,
                                        regions={"all": "all", halves[0]: halves[0], halves[1]: halves[1]})
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                entry["impact"] = evaluator.compare(ranking, ns, random_draws=random_draws,
                                                    contrast_pairs=random_draws, seed=seed, verbose=0).to_dict()
            continue
        mask = get_channel_mask(attacked)
        forward = compiled_forward(attacked)

        def accuracy(channels):
            mask.set_channels(list(channels))
            predictions = np.concatenate([np.asarray(forward(images[i:i + 32])).argmax(-1)
                                          for i in range(0, len(images), 32)])
            return float(np.mean(predictions == labels))

        clean = accuracy(())
        rows = []
        for n in ns:
            top = clean - accuracy(ranking.top(n))
            drops = [clean - accuracy(c) for c in random_channel_sets(entry["channels"], n, random_draws,
                                                                    seed=seed * 1_000_003 + n)]
            stats = baseline_summary(drops)
            rows.append({"n": n, "top_drop": top, "random_mean": stats["mean"], "random_std": stats["std"],
                         "random_p95": stats["p95"], "p_value": empirical_p_value(top, drops)})
        mask.set_channels([])
        entry["impact"] = {"clean_accuracy": clean, "rows": rows}
