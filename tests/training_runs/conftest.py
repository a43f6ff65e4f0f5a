"""Fixtures shared by the training_runs tests."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def one_torch_thread():
    """The tiny model's matmuls only lose from more threads (a loaded 2-core CI box makes OpenMP spin)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
