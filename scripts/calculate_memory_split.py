"""Standalone entry of `converge memory-split` for container entrypoints.

python scripts/calculate_memory_split.py --container-limit 16g --output jvm-args.env
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a plain script from a checkout: make the repository importable without installing it.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from converge.commands.memory_split import memory_split

if __name__ == "__main__":
    memory_split()
