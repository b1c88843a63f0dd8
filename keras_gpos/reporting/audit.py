"""Position-audit reports: the audit experiment's report, composed from the audits' dicts."""

from keras_gpos.audit.rendering import save_audit_files


def write_report(output_dir, runs, extra=None):
    """Writes results.json, results.md and results.png for one or more audits (dicts)."""
    return save_audit_files(output_dir, runs, extra)
