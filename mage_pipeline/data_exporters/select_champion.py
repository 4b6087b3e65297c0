"""The reducer: rank the trained candidates, register the best as `mage`, promote it by the rule."""

from mage_pipeline.utils.converge_step import converge_step

if "data_exporter" not in globals():
    from mage_ai.data_preparation.decorators import data_exporter


@data_exporter
def select(outcomes, *args, **kwargs):
    """Receives every child's outcome (reduce_output); picks from those that trained."""
    trained = [outcome for outcome in outcomes if "error" not in outcome]
    return converge_step("reduce", kwargs["workdir"], trained)
