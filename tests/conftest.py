import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

os.environ.setdefault("PYTHONHASHSEED", "0")
torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield


@pytest.fixture
def run_interpreted():
    """Run a script next to the tests under Triton's CPU interpreter (chosen by the environment before triton is
    imported, hence a subprocess); return the JSON lines it printed, one per case."""

    def run(script: str) -> list[dict]:
        path = Path(__file__).parent / "attention" / script
        env = {**os.environ, "TRITON_INTERPRET": "1"}
        result = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, env=env, timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]
        return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]

    return run
