"""Synthetic training data (tests/synthetic_data.py), made once per module that asks for it."""

import pytest

from tests.synthetic_data import make_data_dir


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return make_data_dir(tmp_path_factory.mktemp("data"))
