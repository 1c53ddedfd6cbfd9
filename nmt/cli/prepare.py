"""nmt-prepare: load, clean, tokenize and cache the configured corpus, then print a summary.

    nmt-prepare                                            # data=sample, offline
    nmt-prepare data=multi30k data.local_dir=PATH/TO/multi30k
    nmt-prepare data=multi30k tokenizer.model_type=bpe tokenizer.vocab_size=10000
    nmt-prepare experiment=multi30k_transformer            # the data that experiment trains on

Composes configs/prepare.yaml, which includes configs/config.yaml: the same data and
tokenizer groups as nmt-train, so a later `nmt-train` with the same overrides starts from
the cache in seconds. Ctrl-C or SIGTERM stops it where it is: the unfinished cache folder
(.<name>.tmp under paths.data_dir) is removed, one line on stderr says it was interrupted
and the exit status is 128 + the signal's number (130, 143), as for the other commands.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig, OmegaConf

from nmt.cli.common import data_dir, quiet_third_party_logs, report_user_errors, sigterm_interrupts
from nmt.data.corpus import CorpusConfig
from nmt.data.pipeline import PreparedCorpus, prepare_corpus
from nmt.data.tokenizer import TokenizerConfig


def prepare(cfg: DictConfig) -> PreparedCorpus:
    """Build the data and tokenizer configs from a composed Hydra config and prepare the corpus."""
    corpus = CorpusConfig.from_dict(OmegaConf.to_container(cfg.data, resolve=True))  # type: ignore[arg-type]
    tokenizer = TokenizerConfig.from_dict(OmegaConf.to_container(cfg.tokenizer, resolve=True))  # type: ignore[arg-type]
    return prepare_corpus(corpus, tokenizer, data_dir=data_dir(cfg))


@hydra.main(config_path="pkg://nmt.configs", config_name="prepare", version_base=None)
@report_user_errors
def main(cfg: DictConfig) -> None:
    quiet_third_party_logs()
    with sigterm_interrupts():
        prepared = prepare(cfg)
    print(prepared.summary)


if __name__ == "__main__":
    main()
