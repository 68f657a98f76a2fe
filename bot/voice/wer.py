"""Word error rate: how far a transcript is from what was said."""

from __future__ import annotations

import re

# Letters, digits and apostrophes inside words ("don't" stays one word); everything else
# (punctuation, dashes) separates words.
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")


def words(text: str) -> list[str]:
    """Lowercased words with punctuation removed."""
    return _WORD.findall(text.lower().replace("\u2019", "'"))


def word_error_rate(reference: str, hypothesis: str) -> float:
    """(substitutions + deletions + insertions) / words in the reference, by word-level
    Levenshtein distance. 0.0 is perfect; it can exceed 1.0 when the hypothesis adds words.
    An empty reference gives 0.0 for an empty hypothesis and 1.0 otherwise."""
    ref, hyp = words(reference), words(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    # One row of the edit-distance table at a time: distances from ref[:i] to each hyp[:j].
    previous = list(range(len(hyp) + 1))
    for i, ref_word in enumerate(ref, start=1):
        current = [i]
        for j, hyp_word in enumerate(hyp, start=1):
            current.append(
                min(
                    previous[j] + 1,  # deletion
                    current[j - 1] + 1,  # insertion
                    previous[j - 1] + (ref_word != hyp_word),  # substitution or match
                )
            )
        previous = current
    return previous[-1] / len(ref)
