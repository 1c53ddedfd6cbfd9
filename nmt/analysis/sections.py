"""The sections of an attention analysis, in report order, and the loop that runs the chosen ones.

Each section is a function `(AnalysisContext) -> SectionResult` in its own module; this
module only names them (the names `nmt-analyze sections=[...]` takes) and runs them,
logging how long each took. A section that raises stops the run: an NMTError is a user
mistake, reported in one line that now names the section; anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from nmt.analysis.ablation import ablation_section
from nmt.analysis.alignment import alignment_section
from nmt.analysis.core import AnalysisContext, Section, SectionResult
from nmt.analysis.coverage import coverage_section
from nmt.analysis.faithfulness import faithfulness_section
from nmt.analysis.heads import heads_section
from nmt.analysis.pronouns import pronouns_section
from nmt.analysis.sentence_view import sentence_section
from nmt.errors import NMTError

log = logging.getLogger(__name__)

SECTIONS: dict[str, Section] = {
    "heads": heads_section,  # per head: entropy, confidence, mass on EOS, positional roles (Voita et al. 2019)
    "alignment": alignment_section,  # cross-attention as a word aligner, AER against gold links (Och & Ney 2003)
    "ablation": ablation_section,  # BLEU and log-prob with each head masked; pruning curve (Michel et al. 2019)
    "faithfulness": faithfulness_section,  # output change under uniform or permuted cross-attention (Jain & Wallace 2019)
    "coverage": coverage_section,  # attention each source word receives; under-/over-translation (Tu et al. 2016)
    "pronouns": pronouns_section,  # contrastive pronoun accuracy; heads from pronoun to antecedent (Müller et al. 2018)
    "sentence": sentence_section,  # one sentence, one word: its attention in every head
}


def check_section_names(names: Sequence[str], *, key: str = "sections") -> list[str]:
    """The known sections among `names`, in report order; an unknown or missing name is an NMTError."""
    unknown = [name for name in names if name not in SECTIONS]
    if unknown:
        raise NMTError(f"{key} names the unknown section {unknown[0]!r}; valid sections are: {', '.join(SECTIONS)}.")
    if not names:
        raise NMTError(f"{key}=[] names no section; choose some of: {', '.join(SECTIONS)}.")
    return [name for name in SECTIONS if name in names]


def run_sections(context: AnalysisContext, names: Sequence[str], *,
                 progress: logging.Logger = log) -> list[SectionResult]:
    """Run the sections `names` (in report order) on `context`; one `progress` line per section with its time."""
    results = []
    for name in check_section_names(names):
        start = time.perf_counter()
        try:
            results.append(SECTIONS[name](context))
        except NMTError as error:
            raise NMTError(f"section {name}: {error}") from error
        progress.info("section=%s seconds=%.1f", name, time.perf_counter() - start)
    return results
