"""converge's training graph as Dagster software-defined assets."""
