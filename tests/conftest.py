"""What every test shares: one torch thread.

Small problems gain nothing from a second thread, and on a loaded 2-core machine (CI, or a
developer's with other jobs) two threads ran 8-15x slower than one (docs/design.md §3). Tests that
measure thread scaling set their own count inside the test.
"""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Every test runs with ``torch.set_num_threads(1)``; the previous count is restored after."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
