"""The parts of scripts/attention_study.py: budgets and runs, the experiments, running them, and the report."""
