"""Load test of nmt-serve against offline decoding of the same sentences with the same options.

    python scripts/load_test.py --ckpt RUN/checkpoints/best.pt                 # Multi30k test_2016, 1,000 sentences
    python scripts/load_test.py --ckpt best.pt --export ct2/ --soak-seconds 600
    python scripts/load_test.py --ckpt best.pt --decoders process thread      # both, side by side

For each model (the checkpoint, then the CTranslate2 export if given) it prints:
1. offline: the same sentences translated in-process by the translator nmt-serve builds (all at once, in
   arrival-order batches of 32, and one sentence at a time), and the `nmt-translate input=` command's wall
   time (start-up included);
2. served, closed loop: 1 / 8 / 32 / 128 clients, each sending one sentence per request until the
   sentences are used up: sentences/s, p50/p95/p99 latency, errors; the ratio to offline throughput;
3. overload: requests sent open-loop at 4x the measured capacity for --overload-seconds: answered,
   refused (503, with their latency), other errors;
4. soak (--soak-seconds > 0): 32 clients for that long, the server's RSS (its decoding process included)
   sampled every 5 s.
Steps 2-4 run once per --decoders kind (nmt-serve's decoder=: a process of its own, or a thread).

The server runs in its own process on 127.0.0.1 (a free port); this process only sends requests,
and decodes nothing while the server runs. Run it alone on the machine: it measures speed.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
ARRIVAL_BATCH = 32
DEFAULT_INPUT = REPO.parent / "shared" / "data" / "multi30k" / "test_2016_flickr.de.gz"


@dataclass
class Tally:
    """Latencies (s) of answered requests by status."""

    latencies: dict[int, list[float]] = field(default_factory=dict)
    failures: int = 0  # no HTTP answer at all (connection error, client timeout)

    def add(self, status: int, seconds: float) -> None:
        self.latencies.setdefault(status, []).append(seconds)

    def count(self, status: int) -> int:
        return len(self.latencies.get(status, []))

    def errors(self) -> int:
        return self.failures + sum(len(v) for status, v in self.latencies.items() if status != 200)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def read_sentences(path: Path, count: int) -> list[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as file:
        return [line.rstrip("\n") for line, _ in zip(file, range(count))]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def offline(model_path: str, sentences: list[str], args: argparse.Namespace) -> dict[str, float]:
    """In-process decoding with the options nmt-serve uses: all sentences at once, then one at a time."""
    import torch

    from nmt.device import configure_cpu
    from nmt.inference.loading import load_translator
    from nmt.serving.config import ServeConfig

    config = ServeConfig.from_dict(server_settings(model_path, args, port=5000))
    configure_cpu(config.threads)
    translator = load_translator([model_path], config.decoding_options(), device=torch.device("cpu")).translator
    translator.translate(sentences[:16])  # warm-up
    started = time.perf_counter()
    translator.translate(sentences)
    batch_seconds = time.perf_counter() - started
    started = time.perf_counter()  # what 32 clients can give the server at most: 32 sentences in arrival order
    for start in range(0, len(sentences), ARRIVAL_BATCH):
        translator.translate(sentences[start:start + ARRIVAL_BATCH])
    arrival_seconds = time.perf_counter() - started
    singles = []
    for sentence in sentences[: args.single_sentences]:
        started = time.perf_counter()
        translator.translate([sentence])
        singles.append(time.perf_counter() - started)
    del translator
    with tempfile.NamedTemporaryFile("w", suffix=".txt", encoding="utf-8") as source:
        source.write("".join(s + "\n" for s in sentences))
        source.flush()
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "nmt.cli.translate", f"ckpt={model_path}", f"input={source.name}",
                        f"output={source.name}.out", f"beam_size={args.beam_size}", f"threads={args.threads}",
                        "device=cpu"], check=True, cwd=REPO, capture_output=True)
        command_seconds = time.perf_counter() - started
        os.unlink(f"{source.name}.out")
    return {"sentences_per_s": len(sentences) / batch_seconds, "single_ms": statistics.median(singles) * 1000,
            "command_s": command_seconds, "arrival_per_s": len(sentences) / arrival_seconds}


def server_settings(model_path: str, args: argparse.Namespace, *, port: int) -> dict:
    """configs/serve.yaml with this run's model, port, threads and beam."""
    from omegaconf import OmegaConf

    values = OmegaConf.to_container(OmegaConf.load(REPO / "configs" / "serve.yaml"), resolve=True)
    values = {key: value for key, value in values.items() if key not in ("defaults", "hydra")}
    values.update(ckpt=model_path, port=port, device="cpu", threads=args.threads, beam_size=args.beam_size,
                  max_queue_sentences=args.max_queue_sentences)
    return values


def start_server(model_path: str, args: argparse.Namespace, *, decoder: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "nmt.cli.serve", f"ckpt={model_path}", f"port={port}", f"threads={args.threads}",
         f"beam_size={args.beam_size}", f"max_queue_sentences={args.max_queue_sentences}", "device=cpu",
         f"decoder={decoder}"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return process, url
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("nmt-serve did not become ready within 120 s")


def client(connections: int | None) -> httpx.AsyncClient:
    """An HTTP client with Nagle's algorithm off: httpx writes a request's headers and body apart, and the
    body would otherwise wait for the server's delayed ACK (40 ms on Linux), once per request."""
    transport = httpx.AsyncHTTPTransport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
                                         limits=httpx.Limits(max_connections=connections,
                                                             max_keepalive_connections=connections or 256))
    return httpx.AsyncClient(timeout=120, transport=transport)


async def post_one(client: httpx.AsyncClient, url: str, sentence: str, tally: Tally) -> None:
    started = time.perf_counter()
    try:
        response = await client.post(f"{url}/v1/translate", json={"text": [sentence]})
    except httpx.HTTPError:
        tally.failures += 1
        return
    tally.add(response.status_code, time.perf_counter() - started)


async def closed_loop(url: str, sentences: list[str], clients: int, *, seconds: float | None = None) -> tuple[Tally, float]:
    """`clients` clients, each sending one sentence per request until the sentences (or `seconds`) run out."""
    tally = Tally()
    pending = iter(sentences if seconds is None else _cycle(sentences))
    deadline = None if seconds is None else time.perf_counter() + seconds
    async with client(clients) as http:
        async def worker():
            for sentence in pending:
                if deadline is not None and time.perf_counter() > deadline:
                    return
                await post_one(http, url, sentence, tally)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        return tally, time.perf_counter() - started


def _cycle(sentences: list[str]):
    while True:
        yield from sentences


async def open_loop(url: str, sentences: list[str], rate: float, seconds: float) -> Tally:
    """One request every 1/rate s for `seconds`, whatever the answers (the arrivals of many independent users)."""
    tally = Tally()
    count = int(rate * seconds)
    async with client(None) as http:
        started = time.perf_counter()
        tasks = []
        for index in range(count):
            delay = started + index / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(post_one(http, url, sentences[index % len(sentences)], tally)))
        await asyncio.gather(*tasks)
    return tally


def refusals_within(url: str, seconds: float) -> tuple[int, int]:
    """(503 answers of /v1/translate the server gave within `seconds` of receiving the request, all of them),
    from its latency histogram: what the client sees also holds its own queueing on the same cores."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=30) as response:
        text = response.read().decode()
    labels = 'route="/v1/translate",status="503"'
    within = total = 0
    for line in text.splitlines():
        if line.startswith("nmt_request_seconds_bucket{") and labels in line and f'le="{seconds}"' in line:
            within = int(float(line.split()[-1]))
        elif line.startswith("nmt_request_seconds_count{") and labels in line:
            total = int(float(line.split()[-1]))
    return within, total


def rss_mb(pid: int) -> float:
    """Resident memory of process `pid` and the processes it started (a decoding process), in MB."""
    total = 0.0
    children = [int(child) for task in Path(f"/proc/{pid}/task").iterdir()
                for child in (task / "children").read_text().split()]
    for process in (pid, *children):
        for line in Path(f"/proc/{process}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) / 1024
    return total


async def soak(url: str, sentences: list[str], pid: int, seconds: float) -> tuple[Tally, list[float]]:
    samples = [rss_mb(pid)]

    async def sample():
        while True:
            await asyncio.sleep(5)
            samples.append(rss_mb(pid))

    sampler = asyncio.create_task(sample())
    tally, _ = await closed_loop(url, sentences, 32, seconds=seconds)
    sampler.cancel()
    samples.append(rss_mb(pid))
    return tally, samples


def measure(label: str, model_path: str, sentences: list[str], args: argparse.Namespace) -> None:
    base = offline(model_path, sentences, args)
    print(f"\n### {label}: {model_path}\n")
    print(f"offline, in-process: {base['sentences_per_s']:.1f} sentences/s; one sentence alone: "
          f"{base['single_ms']:.1f} ms (median of {args.single_sentences}); nmt-translate input= command: "
          f"{base['command_s']:.1f} s wall (start-up included); in arrival-order batches of {ARRIVAL_BATCH} (what "
          f"{ARRIVAL_BATCH} clients can make): {base['arrival_per_s']:.1f} sentences/s\n")
    for decoder in args.decoders:
        print(f"\nserved, decoder={decoder}:\n")
        served(model_path, sentences, args, base, decoder=decoder)


def served(model_path: str, sentences: list[str], args: argparse.Namespace, base: dict[str, float], *,
           decoder: str) -> None:
    process, url = start_server(model_path, args, decoder=decoder)
    try:
        print(f"| clients | sentences/s | x offline | x offline in {ARRIVAL_BATCH}s | p50 ms | p95 ms | p99 ms | errors |")
        print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        capacity = 0.0
        for clients in args.clients:
            tally, seconds = asyncio.run(closed_loop(url, sentences, clients))
            ok = tally.latencies.get(200, [])
            rate = len(ok) / seconds
            capacity = max(capacity, rate)
            extra = f" (p50 {statistics.median(ok) * 1000 / base['single_ms']:.2f}x one sentence offline)" \
                if clients == 1 and ok else ""
            print(f"| {clients} | {rate:.1f} | {rate / base['sentences_per_s']:.2f} | {rate / base['arrival_per_s']:.2f} "
                  f"| {percentile(ok, .5) * 1000:.1f}"
                  f"{extra} | {percentile(ok, .95) * 1000:.1f} | {percentile(ok, .99) * 1000:.1f} | {tally.errors()} |")
        if args.overload_seconds > 0:
            rate = 4 * capacity
            tally = asyncio.run(open_loop(url, sentences, rate, args.overload_seconds))
            refused = tally.latencies.get(503, [])
            fast, total = refusals_within(url, 0.05)
            print(f"\noverload: {rate:.0f} requests/s (4x capacity) for {args.overload_seconds:g} s: "
                  f"{tally.count(200)} answered, {len(refused)} refused with 503 (as the client saw them: p50 "
                  f"{percentile(refused, .5) * 1000:.1f} ms, max {max(refused, default=float('nan')) * 1000:.1f} ms; "
                  f"in the server: {fast} of {total} within 50 ms), {tally.errors() - len(refused)} other errors")
        if args.soak_seconds > 0:
            tally, samples = asyncio.run(soak(url, sentences, process.pid, args.soak_seconds))
            minute = max(1, int(60 / 5))
            print(f"\nsoak: 32 clients for {args.soak_seconds:g} s: {tally.count(200)} answered, {tally.errors()} errors; "
                  f"RSS {samples[0]:.0f} MB at start, max of the first minute {max(samples[:minute]):.0f} MB, "
                  f"max of the last minute {max(samples[-minute:]):.0f} MB, overall max {max(samples):.0f} MB")
    finally:
        process.terminate()
        process.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt", required=True, help="a .pt checkpoint to serve")
    parser.add_argument("--export", help="an nmt-export directory of the same model: measured the same way")
    parser.add_argument("--input", type=Path, default=DEFAULT_INPUT, help="source sentences, one per line (.gz ok)")
    parser.add_argument("--sentences", type=int, default=1000)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32, 128])
    parser.add_argument("--beam-size", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the server and of offline decoding")
    parser.add_argument("--max-queue-sentences", type=int, default=2048)
    parser.add_argument("--single-sentences", type=int, default=50, help="sentences timed one at a time offline")
    parser.add_argument("--overload-seconds", type=float, default=15)
    parser.add_argument("--soak-seconds", type=float, default=0)
    parser.add_argument("--decoders", nargs="+", choices=["process", "thread"], default=["process"],
                        help="nmt-serve's decoder= kinds to measure, one server after the other")
    args = parser.parse_args()
    sentences = read_sentences(args.input, args.sentences)
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown CPU")
    print(f"{len(sentences)} sentences from {args.input.name}; beam {args.beam_size}; {args.threads} threads; "
          f"{os.cpu_count()} cores: {cpu}")
    measure("checkpoint", args.ckpt, sentences, args)
    if args.export:
        measure("CTranslate2 export", args.export, sentences, args)


if __name__ == "__main__":
    main()
