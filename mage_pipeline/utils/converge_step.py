"""Run one `converge mage step` in converge's own virtualenv and return its JSON result.

Mage 0.9.80 lives in a virtualenv of its own (its pins would downgrade converge's stack), so
every block delegates its work to converge's code through this call. A failed step raises with
converge's message: Mage then marks the block failed and shows that message in its log.
"""

import json
import os
import subprocess
from typing import Any

CONVERGE_BIN_ENV = "CONVERGE_BIN"
# Longest a step may take: the guard of a hung H2O call inside one block.
STEP_TIMEOUT_ENV = "CONVERGE_MAGE_STEP_TIMEOUT_S"


class ConvergeStepError(RuntimeError):
    """A converge step exited non-zero; the message is its own."""


def converge_step(step: str, workdir: str, payload: Any = None) -> Any:
    """`converge mage step STEP --workdir DIR` with `payload` as JSON on stdin; its JSON output."""
    command = [os.environ[CONVERGE_BIN_ENV], "mage", "step", step, "--workdir", workdir]
    timeout = float(os.environ.get(STEP_TIMEOUT_ENV, "900"))
    try:
        done = subprocess.run(
            command,
            input=json.dumps(payload),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ConvergeStepError(f"converge mage step {step} took over {timeout:.0f} s") from exc
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        errors = [line.removeprefix("Error: ") for line in lines if line.startswith("Error: ")]
        raise ConvergeStepError(f"converge mage step {step}: {' | '.join(errors or lines[-3:])}")
    # The result is the first line: H2O's client prints a farewell to stdout when it exits.
    first = done.stdout.partition("\n")[0]
    try:
        return json.loads(first)
    except json.JSONDecodeError as exc:
        raise ConvergeStepError(f"converge mage step {step}: not a JSON result: {first!r}") from exc
