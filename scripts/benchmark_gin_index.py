"""The GIN index benchmark as a script, e.g. `--table feature_store --rows 1000000`.

Same code and options as `converge bench gin` (bench/gin.py).
"""

from bench.gin import command

if __name__ == "__main__":
    command(prog_name="benchmark_gin_index.py")
