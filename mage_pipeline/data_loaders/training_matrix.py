"""Build the point-in-time training frame and emit the config matrix: one child run per config."""

from mage_pipeline.utils.converge_step import converge_step

if "data_loader" not in globals():
    from mage_ai.data_preparation.decorators import data_loader


@data_loader
def load_training_matrix(**kwargs):
    """A dynamic block's output: [configs, metadata]; each child is named after its config."""
    configs = converge_step("load", kwargs["workdir"])
    return [configs, [{"block_uuid": config["name"]} for config in configs]]
