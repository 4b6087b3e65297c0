"""Fails, naming every failed config and its reason, when any candidate failed to train."""

if "data_exporter" not in globals():
    from mage_ai.data_preparation.decorators import data_exporter


class FailedCandidatesError(RuntimeError):
    """Some configs of the matrix did not train; the champion came from the others."""


@data_exporter
def check(outcomes, *args, **kwargs):
    """The failed configs as this block's failure (the run is then marked failed too)."""
    failed = {o["config_name"]: o["error"] for o in outcomes if "error" in o}
    if failed:
        lines = "; ".join(f"{name}: {reason}" for name, reason in failed.items())
        raise FailedCandidatesError(f"{len(failed)} of {len(outcomes)} configs failed: {lines}")
    return {"failed": 0, "configs": len(outcomes)}
