"""Child processes for the benchmark: measured runs, their thread settings and the peers' virtual environments."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

# Exact install recipes (see scripts/BENCHMARKS.md for why each extra is there).
TORCH_SPEC = "torch==2.13.0"
PEER_INSTALLS: dict[str, list[list[str]]] = {
    "joeynmt": [["joeynmt==2.3.0", "importlib_metadata", "sentencepiece==0.2.0"]],
    "onmt": [["--no-deps", "OpenNMT-py==3.5.1"],
             ["configargparse", "tensorboard", "pyyaml", "sacrebleu", "rapidfuzz", "six", "numpy",
              "pyonmttok", "spacy", "pyahocorasick", "fasttext-wheel"]],
}
PEER_MODULES = {"joeynmt": "joeynmt", "onmt": "onmt"}


@dataclass(frozen=True)
class ProcessResult:
    wall_s: float
    peak_rss_mb: float
    log: str


def run_measured(command: Sequence[str], *, log_path: Path, env: dict[str, str], cwd: Path) -> ProcessResult:
    """Run `command` to completion with stdout+stderr in `log_path`; its own peak RSS from wait4."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with log_path.open("w", encoding="utf-8") as log_file:
        process = subprocess.Popen(list(command), stdout=log_file, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    wall_s = time.monotonic() - started
    text = log_path.read_text(encoding="utf-8", errors="replace")
    if process.returncode != 0:
        tail = "\n".join(text.splitlines()[-25:])
        raise RuntimeError(f"{' '.join(map(str, command[:4]))} ... failed ({process.returncode}); "
                           f"log {log_path}:\n{tail}")
    return ProcessResult(wall_s=wall_s, peak_rss_mb=usage.ru_maxrss / 1024, log=text)  # ru_maxrss: KiB


def thread_env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), CUDA_VISIBLE_DEVICES="",
               TOKENIZERS_PARALLELISM="false", PYTHONUNBUFFERED="1", HYDRA_FULL_ERROR="1")
    return env


def venv_python(bench_dir: Path, tool: str) -> Path:
    return bench_dir / f"{tool}-venv" / "bin" / "python"


def ensure_venv(bench_dir: Path, tool: str, *, torch_index: str | None) -> Path:
    """Create bench/<tool>-venv with torch 2.13 CPU first, then the peer; reuse it when it imports."""
    python = venv_python(bench_dir, tool)
    if python.exists() and subprocess.run([python, "-c", f"import {PEER_MODULES[tool]}"],
                                          capture_output=True).returncode == 0:
        return python
    print(f"installing {tool} into {python.parents[1]} (torch first, so no CUDA build is pulled)", flush=True)
    subprocess.run([sys.executable, "-m", "venv", python.parents[1]], check=True)
    pip = [str(python), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, TORCH_SPEC, *(["--index-url", torch_index] if torch_index else [])], check=True)
    for packages in PEER_INSTALLS[tool]:
        subprocess.run([*pip, *packages], check=True)
    return python

