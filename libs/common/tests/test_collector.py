"""The collector pause restores the state it found."""

from __future__ import annotations

import gc

import pytest

from common.collector import collector_paused


def test_the_collector_is_restored_after_the_work() -> None:
    assert gc.isenabled()
    with pytest.raises(ValueError), collector_paused():
        assert not gc.isenabled()
        raise ValueError
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()  # left as the caller had it
    finally:
        gc.enable()
