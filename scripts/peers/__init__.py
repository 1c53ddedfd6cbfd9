"""The side-by-side benchmark's parts (scripts/bench_peers.py) and the peers' config templates."""
