"""Start a training job on SageMaker (``pip install -e '.[sagemaker]'``; AWS credentials and a role needed).

    python -m ml.training.sagemaker_launch --role arn:aws:iam::123456789012:role/SageMakerRole \\
        --data s3://my-bucket/inkbus/data --epochs 20

The S3 prefix holds the same layout as the data directory (unipen/ink.jsonl.gz, mnist/, emnist/).
Only the code the entry point needs is uploaded (``stage_source``), never the checkout's venv or runs.
The ``sagemaker`` package is imported inside ``launch`` only: nothing else in the project needs it.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from foundation.settings import REPO_ROOT

ENTRY = "train_entry.py"
# Installed on top of the PyTorch training image (which brings torch and numpy).
REQUIREMENTS = ["click==8.5.1", "pydantic==2.14.4", "pydantic-settings==2.16.3", "tqdm==4.70.1"]


def stage_source(dest: Path) -> Path:
    """Lay out the job's source_dir: the ml and inkbus packages, a requirements file and the entry script."""
    dest.mkdir(parents=True, exist_ok=True)
    for pkg in ("ml", "inkbus"):
        shutil.copytree(REPO_ROOT / pkg, dest / pkg, ignore=shutil.ignore_patterns("__pycache__", "*.ipynb", "bench"))
    (dest / "requirements.txt").write_text("\n".join(REQUIREMENTS) + "\n")
    (dest / ENTRY).write_text(
        "from inkbus.ml_cli import sagemaker_main\n\nif __name__ == '__main__':\n    sagemaker_main()\n"
    )
    return dest


def launch(
    role: str,
    data_s3: str,
    hyperparameters: dict | None = None,
    instance_type: str = "ml.g5.xlarge",
    framework_version: str = "2.5",
    checkpoint_s3: str | None = None,
    wait: bool = False,
):
    """Create and start the job; returns the estimator (its ``model_data`` is the model.tar.gz on S3)."""
    from sagemaker.pytorch import PyTorch  # optional extra, imported only when a job is really started

    source = stage_source(Path(tempfile.mkdtemp(prefix="inkbus-sm-")) / "src")
    hps = {"epochs": 20, **(hyperparameters or {})}
    if checkpoint_s3:  # spot-friendly: SageMaker syncs this folder with S3, and training resumes from it
        hps["checkpoint-dir"] = "/opt/ml/checkpoints"
    estimator = PyTorch(
        entry_point=ENTRY,
        source_dir=str(source),
        role=role,
        framework_version=framework_version,
        py_version="py311",
        instance_count=1,
        instance_type=instance_type,
        hyperparameters=hps,
        checkpoint_s3_uri=checkpoint_s3,
        checkpoint_local_path="/opt/ml/checkpoints" if checkpoint_s3 else None,
    )
    estimator.fit({"train": data_s3}, wait=wait)
    return estimator


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--role", required=True, help="IAM role ARN that SageMaker assumes")
    p.add_argument("--data", required=True, help="s3:// prefix laid out like the data directory")
    p.add_argument("--instance-type", default="ml.g5.xlarge")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--checkpoint-s3", help="s3:// prefix for resumable checkpoints")
    p.add_argument("--wait", action="store_true", help="Stream the job's logs until it ends")
    a = p.parse_args(argv)
    est = launch(a.role, a.data, {"epochs": a.epochs}, a.instance_type, checkpoint_s3=a.checkpoint_s3, wait=a.wait)
    print(est.latest_training_job.name)


if __name__ == "__main__":
    main()
