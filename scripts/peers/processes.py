"""Child processes for the benchmark: measured runs, their thread settings and the peers' virtual environments."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

# Exact install recipes (see docs/benchmarks.md for why each extra is there).
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
    peak_rss_mb: float  # the largest process's peak resident set (wait4): includes mapped file pages
    log: str
    peak_anon_mb: float | None = None  # the largest anonymous resident set seen (sampled), without file pages


SAMPLE_EVERY_S = 0.2  # anonymous-memory sampling period


def run_measured(command: Sequence[str], *, log_path: Path, env: dict[str, str], cwd: Path) -> ProcessResult:
    """Run `command` to completion with stdout+stderr in `log_path`.

    Peak RSS comes from wait4; it counts the pages of memory-mapped files the process has read
    (nmt's Arrow caches), which the kernel can drop at will. So the anonymous part (heap,
    arrays) of the process and its children is also sampled from /proc every SAMPLE_EVERY_S.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    peak_anon_kb: int | None = None
    with log_path.open("w", encoding="utf-8") as log_file:
        process = subprocess.Popen(list(command), stdout=log_file, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid != 0:
                break
            sampled = [kb for kb in map(anon_kb, process_tree(process.pid)) if kb is not None]
            if sampled:
                peak_anon_kb = max(peak_anon_kb or 0, *sampled)
            time.sleep(SAMPLE_EVERY_S)
        process.returncode = os.waitstatus_to_exitcode(status)
    wall_s = time.monotonic() - started
    text = log_path.read_text(encoding="utf-8", errors="replace")
    if process.returncode != 0:
        tail = "\n".join(text.splitlines()[-25:])
        raise RuntimeError(f"{' '.join(map(str, command[:4]))} ... failed ({process.returncode}); "
                           f"log {log_path}:\n{tail}")
    return ProcessResult(wall_s=wall_s, peak_rss_mb=usage.ru_maxrss / 1024, log=text,  # ru_maxrss: KiB
                         peak_anon_mb=None if peak_anon_kb is None else peak_anon_kb / 1024)


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants, from /proc/<pid>/task/*/children (Linux); [pid] elsewhere."""
    tree, pending = [], [pid]
    while pending:
        current = pending.pop()
        tree.append(current)
        for children in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                pending.extend(int(child) for child in children.read_text().split())
            except OSError:  # the task ended meanwhile
                continue
    return tree


def anon_kb(pid: int) -> int | None:
    """The process's anonymous resident memory in KiB (RssAnon of /proc/<pid>/status); None if unknown."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1])
    return None


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

