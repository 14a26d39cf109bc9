"""Shared helpers for the course notebooks.

Each helper's docstring names the chapter that introduces it. Importing this package is
cheap: TensorFlow, PyTorch and the dataset packages are imported only inside the functions
that need them.
"""

from utils.checks import MetricCheckError, MissingSweepError, check_metric
from utils.data import (
    DataIntegrityError,
    UnknownDatasetError,
    available_datasets,
    load_dataset,
    verified_data_path,
)
from utils.device import (
    GPURequiredError,
    gpu_required,
    import_tensorflow,
    native_stderr_silenced,
    tensorflow_device,
    torch_device,
)
from utils.digits import build_keras_digits_cnn, split_digits_images
from utils.evaluation import bootstrap_interval, known_item_scores, precision_recall_at_k, reliability_table, top_k_unseen
from utils.export import export_onnx
from utils.monitoring import adjust_p_values, drift_report
from utils.optional import import_torchao, import_umap
from utils.paths import REPO_ROOT, artifacts_dir, data_dir
from utils.plotting import plot_cv_scores, set_plot_style
from utils.report import environment_report, format_stamp
from utils.seeding import SUPPORTED_FRAMEWORKS, seed_everything
from utils.loadtest import LoadResult, closed_loop, open_loop, raw_post, send_raw
from utils.service import Service, free_port, save_model_version, start_service
from utils.text import (build_review_classifier, build_vocabulary, encode_texts, minilm_dir, spacy_english, text_cv_over_C,
                        tokenize_words, verify_spacy_model)
from utils.training import fit_classifier, predict_logits
from utils.setup import colab_requirements, install_colab_extras, setup_notebook

__all__ = [
    "DataIntegrityError",
    "GPURequiredError",
    "MetricCheckError",
    "MissingSweepError",
    "REPO_ROOT",
    "SUPPORTED_FRAMEWORKS",
    "Service",
    "UnknownDatasetError",
    "adjust_p_values",
    "artifacts_dir",
    "available_datasets",
    "bootstrap_interval",
    "build_keras_digits_cnn",
    "build_review_classifier",
    "build_vocabulary",
    "check_metric",
    "colab_requirements",
    "data_dir",
    "drift_report",
    "encode_texts",
    "environment_report",
    "export_onnx",
    "fit_classifier",
    "format_stamp",
    "free_port",
    "gpu_required",
    "import_tensorflow",
    "import_torchao",
    "import_umap",
    "install_colab_extras",
    "known_item_scores",
    "load_dataset",
    "minilm_dir",
    "native_stderr_silenced",
    "plot_cv_scores",
    "precision_recall_at_k",
    "predict_logits",
    "reliability_table",
    "seed_everything",
    "set_plot_style",
    "setup_notebook",
    "spacy_english",
    "split_digits_images",
    "start_service",
    "save_model_version",
    "LoadResult",
    "closed_loop",
    "open_loop",
    "raw_post",
    "send_raw",
    "text_cv_over_C",
    "tensorflow_device",
    "tokenize_words",
    "top_k_unseen",
    "torch_device",
    "verified_data_path",
    "verify_spacy_model",
]
