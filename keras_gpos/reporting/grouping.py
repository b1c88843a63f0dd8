"""Which runs a report may average: seeds of one setting, nothing else.

A report row (a table line such as "resnet10-w16, fc, zero padding, 3x3")
averages runs over seeds. Rows are grouped by what a run recorded of itself
(its fingerprint less the seed, and less the task where a row pairs a
location and a class run), so two runs that share the row's label but
differ anywhere else (learning rate, epochs, the data) are refused, naming
the field, instead of being averaged as two seeds. A run given twice, or two
runs of one seed, are refused too.

Runs of keras_gpos 0.1 and 0.2 recorded less (no data digest, no backend):
what one run did not record is not compared.
"""

import collections

from keras_gpos.base.records import describe_differences, short_digests


def _comparable(a, b):
    """`a` and `b` less what one of them did not record (data content, backend, data fields)."""
    a, b = dict(a), dict(b)
    for key in set(a) ^ set(b):
        a.pop(key, None)
        b.pop(key, None)
    for key in set(a) & set(b):
        if isinstance(a[key], dict) and isinstance(b[key], dict):
            a[key], b[key] = _comparable(a[key], b[key])
    return a, b


def group_rows(rows, label, identity=lambda row: (row.get("task"), row.get("seed")), what="row"):
    """Rows grouped by `label(row)`, in first-seen order, each group one setting.

    Args:
        rows: dicts; each may hold `"setting"` (the run's fingerprint less
            seed and task) and `"run_dir"`.
        label: function `row -> hashable`: the table row it belongs to.
        identity: function `row -> hashable` that must be unique within a
            group (task and seed: one run per seed and task).
        what: str. How the label is called in messages.

    Returns:
        `OrderedDict(label -> [rows])`.

    Raises:
        ValueError: two runs of one label whose settings differ (naming the
            field), or two runs with one identity.
    """
    groups = collections.OrderedDict()
    for row in rows:
        groups.setdefault(label(row), []).append(row)
    for key, members in groups.items():
        first = members[0]
        seen = {}
        for row in members:
            if first.get("setting") is not None and row.get("setting") is not None:
                old, new = _comparable(first["setting"], row["setting"])
                differences = [short_digests(line) for line in describe_differences(old, new)]
                if differences:
                    raise ValueError(
                        f"{_name(first)} and {_name(row)} share the {what} {_label(key)} but differ in "
                        f"{'; '.join(differences[:4])}; they are not seeds of one setting: report them separately."
                    )
            ident = identity(row)
            if ident in seen:
                raise ValueError(f"{_name(seen[ident])} and {_name(row)} are the same run of the {what} {_label(key)} "
                                 f"({_ident(ident)}); give each run once.")
            seen[ident] = row
    return groups


def check_alike(rows, reference_rows, compared, what):
    """Refuses to compare runs with reference runs trained otherwise than in the `compared` fields.

    A PermuteNet row is read against its unpermuted reference, an AugShift
    group against the baseline: the comparison means something only when
    the two were trained alike but for what is compared (each side's runs
    are already seeds of one setting, so one run of each side is compared).

    Raises:
        ValueError: naming both runs and the differing fields.
    """
    row = next((r for r in rows if r.get("setting") is not None), None)
    ref = next((r for r in reference_rows if r.get("setting") is not None), None)
    if row is None or ref is None:
        return

    def less_compared(setting):
        return {**setting, "settings": {k: v for k, v in setting.get("settings", {}).items() if k not in compared}}

    old, new = _comparable(less_compared(ref["setting"]), less_compared(row["setting"]))
    differences = [short_digests(line) for line in describe_differences(old, new)]
    if differences:
        raise ValueError(
            f"{_name(row)} is compared with {_name(ref)} ({what}) but they were trained differently "
            f"({'; '.join(differences[:4])}); only {', '.join(compared)} may differ: train them alike or "
            "report them separately."
        )


def check_one_setting(rows, setting, what):
    """Refuses rows (e.g. one attack per seed) whose `setting(row)` differs, naming the field."""
    first = rows[0]
    for row in rows[1:]:
        differences = describe_differences(setting(first), setting(row))
        if differences:
            raise ValueError(f"{_name(first)} and {_name(row)} differ in {'; '.join(differences[:4])}; "
                             f"{what} averages seeds of one setting only: report them separately.")


def _name(row):
    return row.get("run_dir") or f"the run of seed {row.get('seed')}"


def _label(key):
    if isinstance(key, tuple):
        return "(" + ", ".join(str(part) for part in key) + ")"
    return repr(key)


def _ident(ident):
    if isinstance(ident, tuple) and len(ident) == 2:
        task, seed = ident
        return f"task {task}, seed {seed}" if task is not None else f"seed {seed}"
    return str(ident)
