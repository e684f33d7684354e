"""SageMaker script mode, translated into ``inkbus train`` arguments (the command itself is in ``inkbus/ml_cli.py``).

SageMaker runs ``python <entry> --key value ...`` (its hyperparameters) inside the training container,
with the data channel at ``SM_CHANNEL_TRAIN``, the folder it uploads at ``SM_MODEL_DIR`` and the
GPU count in ``SM_NUM_GPUS``. Outside SageMaker none of these are set and this is plain ``inkbus train``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

FLAGS = ("--dry-run", "--no-resume", "--bf16")  # click flags that SageMaker passes as "--flag True"


def sagemaker_defaults(env: Mapping[str, str]) -> list[str]:
    """Command-line defaults from the SM_* variables that are set."""
    args: list[str] = []
    if env.get("SM_CHANNEL_TRAIN"):
        args += ["--data-dir", env["SM_CHANNEL_TRAIN"]]
    if env.get("SM_MODEL_DIR"):
        # the model folder is what SageMaker tars up for serving: only the artifact goes there
        args += ["--out", os.path.join(env["SM_MODEL_DIR"], "inknet.pt")]
        out_data = env.get("SM_OUTPUT_DATA_DIR") or os.path.join(env["SM_MODEL_DIR"], os.pardir, "output")
        args += ["--log", os.path.join(out_data, "train.jsonl"), "--checkpoint-dir", os.path.join(out_data, "ckpt")]
    if env.get("SM_NUM_GPUS") not in (None, ""):
        args += ["--device", "cuda" if int(env["SM_NUM_GPUS"]) > 0 else "cpu"]
    return args


def normalise_flags(argv: list[str]) -> list[str]:
    """``--dry-run True`` -> ``--dry-run``; ``--dry-run False`` -> nothing (SageMaker's boolean spelling)."""
    out, i = [], 0
    while i < len(argv):
        a = argv[i]
        if a in FLAGS and i + 1 < len(argv) and argv[i + 1].lower() in {"true", "false", "1", "0"}:
            if argv[i + 1].lower() in {"true", "1"}:
                out.append(a)
            i += 2
            continue
        out.append(a)
        i += 1
    return out


def train_args(argv: list[str], env: Mapping[str, str]) -> list[str]:
    """``inkbus train``'s arguments: the SM_* defaults first, so explicit hyperparameters override them
    (click keeps the last occurrence of an option)."""
    return sagemaker_defaults(env) + normalise_flags(argv)
