"""Write a large parallel corpus for scale benchmarks and tests, without a download.

    python scripts/make_large_corpus.py 1015000 corpora/m30k-1m --from-multi30k ../shared/data/multi30k
    python scripts/make_large_corpus.py 4500000 corpora/sample-4m5                 # from the sample grammar
    nmt-prepare data=local data.local_dir=corpora/m30k-1m data.src_lang=de data.tgt_lang=en

From Multi30k, the training split is repeated (and cut) to PAIRS lines; validation and test
are copied as they are. From the sample grammar (English -> French), PAIRS training pairs are
generated (duplicates allowed, so any size works) with small fixed validation and test splits.
Files are {train,valid,test}.{src,tgt} in OUTPUT, written line by line in bounded memory.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import random
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MULTI30K_SPLITS = {"train": "train", "valid": "val", "test": "test_2016_flickr"}  # our stem -> release stem


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pairs", type=int, help="training pairs to write")
    parser.add_argument("output", type=Path, help="directory to write (created; existing files are replaced)")
    parser.add_argument("--from-multi30k", type=Path, metavar="DIR",
                        help="repeat this Multi30k release's train split (de-en) instead of generating")
    parser.add_argument("--src", default="de", help="source language of the Multi30k files (default de)")
    parser.add_argument("--tgt", default="en", help="target language of the Multi30k files (default en)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample grammar")
    args = parser.parse_args(argv)
    if args.pairs < 1:
        parser.error(f"pairs={args.pairs} must be at least 1")
    args.output.mkdir(parents=True, exist_ok=True)
    if args.from_multi30k is not None:
        languages = (args.src, args.tgt)
        for stem, release in MULTI30K_SPLITS.items():
            lines = [list(read_gz(args.from_multi30k / f"{release}.{lang}.gz")) for lang in languages]
            pairs = zip(*lines)
            if stem == "train":
                pairs = itertools.islice(itertools.cycle(list(pairs)), args.pairs)
            write_pairs(args.output, stem, languages, pairs)
    else:
        languages = ("en", "fr")
        write_pairs(args.output, "train", languages, sample_pairs(args.pairs, seed=args.seed))
        for offset, stem in enumerate(("valid", "test"), start=1):
            write_pairs(args.output, stem, languages, sample_pairs(1000, seed=args.seed + offset))
    print(f"wrote {args.pairs:,} training pairs ({'-'.join(languages)}) to {args.output}")


def read_gz(path: Path) -> Iterator[str]:
    with gzip.open(path, "rt", encoding="utf-8") as file:
        for line in file:
            yield line.rstrip("\n")


def sample_pairs(count: int, *, seed: int, chunk: int = 20_000) -> Iterator[tuple[str, str]]:
    """`count` pairs of the sample grammar, generated in chunks of fresh seeds (duplicates allowed)."""
    sys.path.insert(0, str(REPO))
    from nmt.data import sample

    rng = random.Random(seed)
    remaining = count
    while remaining > 0:
        size = min(chunk, remaining)
        yield from sample.generate_pairs(size=size, seed=rng.randrange(2**31))
        remaining -= size


def write_pairs(directory: Path, stem: str, languages: tuple[str, str], pairs: Iterable[tuple[str, str]]) -> None:
    with (directory / f"{stem}.{languages[0]}").open("w", encoding="utf-8") as src, \
            (directory / f"{stem}.{languages[1]}").open("w", encoding="utf-8") as tgt:
        for source, target in pairs:
            src.write(source + "\n")
            tgt.write(target + "\n")


if __name__ == "__main__":
    main()
