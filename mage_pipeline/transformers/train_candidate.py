"""Train one config on H2O, export and parity-check its MOJO, store it by sha256.

A failure is returned as {"config_name", "error"}, not raised: Mage 0.9.80 marks every block
downstream of a failed dynamic child `upstream_failed`, reducers included, whatever the trigger's
allow_blocks_to_fail says, so a raise here would stop the champion from being selected from the
other configs. `candidate_failures` then fails visibly naming each failed config (docs/mage.md).
"""

from mage_pipeline.utils.converge_step import ConvergeStepError, converge_step

if "transformer" not in globals():
    from mage_ai.data_preparation.decorators import transformer


@transformer
def train(config, *args, **kwargs):
    """One dynamic child: the candidate's result (config, metrics, artifact) or its error."""
    try:
        return converge_step("train", kwargs["workdir"], config)
    except ConvergeStepError as exc:
        kwargs["logger"].error(f"config {config['name']} failed: {exc}")
        return {"config_name": config["name"], "error": str(exc)}
