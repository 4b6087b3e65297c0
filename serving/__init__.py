"""converge's async serving app: JVM-free champion scoring behind FastAPI."""
