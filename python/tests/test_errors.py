"""Failures reach Python as exceptions, Ctrl-C stops the workers at once, and no thread is left
behind."""

import os
import shutil
import signal
import threading
import time

import numpy as np
import pytest

import mille


def threads() -> int:
    """Threads of this process, Rust's included (threading.active_count sees only Python's)."""
    return len(os.listdir("/proc/self/task"))


def settle(expected: int, within: float = 5.0) -> int:
    """Threads once at most `expected` remain (or `within` seconds passed)."""
    end = time.monotonic() + within
    while threads() > expected and time.monotonic() < end:
        time.sleep(0.01)
    left = threads()
    assert left <= expected, f"{left} threads left, {expected} before"
    return left


def test_a_worker_error_is_a_python_exception_with_the_clis_message(cora, tmp_path):
    copy = tmp_path / "cora"
    shutil.copytree(cora.path, copy)
    store = mille.Store(copy)
    loader = mille.Loader(store, parts=4, residency="mapped")
    before = threads()
    os.truncate(copy / "node_feat.bin", 1000)
    with pytest.raises(mille.MilleError, match="node_feat.*changed since it was opened"):
        for _ in loader.epoch(0):
            pass
    assert settle(before) <= before


def test_bad_stores_and_arguments_say_what_is_wrong(cora, tmp_path):
    with pytest.raises(mille.MilleError, match="is not a mille store"):
        mille.Store(tmp_path)
    with pytest.raises(ValueError, match="not both"):
        mille.Loader(cora, parts=3, partition=np.zeros(cora.num_nodes, dtype=np.int32))
    with pytest.raises(ValueError, match="2707 entries for a store of 2708 nodes"):
        mille.Loader(cora, partition=np.zeros(cora.num_nodes - 1, dtype=np.int32))
    with pytest.raises(ValueError, match="expected random, metis, fennel or ldg"):
        mille.partition(cora, 4, method="spectral")
    with pytest.raises(ValueError, match="id 9999 is not a node"):
        mille.Loader(cora, nodes=np.array([1, 9999]))
    with pytest.raises(mille.MilleError, match="every part needs a node"):
        mille.partition(cora, 3000, method="random")


def test_keyboard_interrupt_mid_epoch_returns_at_once_and_joins_the_workers(products):
    # Whole-graph views, one worker, one batch ahead: the consumer waits in Rust for most of
    # the epoch, which is where Ctrl-C must get through.
    loader = mille.Loader(products, views=400, parts=1, workers=1, prefetch=1)
    before = threads()
    main = threading.get_ident()
    sent = []

    def interrupt():
        time.sleep(0.5)
        sent.append(time.monotonic())
        signal.pthread_kill(main, signal.SIGINT)

    threading.Thread(target=interrupt).start()
    seen = 0
    with pytest.raises(KeyboardInterrupt):
        for _ in loader.epoch(0):
            seen += 1
    late = time.monotonic() - sent[0]
    assert 0 < seen < 400
    assert late < 1.0, f"KeyboardInterrupt took {late:.2f} s"
    assert settle(before, within=1.0) <= before


def test_dropping_an_epoch_midway_joins_its_threads(cora):
    loader = mille.Loader(cora, parts=50, workers=2, prefetch=2)
    before = threads()
    epoch = loader.epoch(0)
    first = next(epoch)
    assert threads() > before
    del epoch
    assert settle(before) <= before
    assert first.num_nodes > 0  # a batch outlives its epoch


def test_an_epoch_closes_as_a_context_manager(cora):
    loader = mille.Loader(cora, parts=20)
    before = threads()
    with loader.epoch(0) as epoch:
        next(epoch)
    assert settle(before) <= before
    assert list(epoch) == []


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(parts=10**12), "parts"),
        (dict(views=2, parts=2**33), "parts"),
        (dict(fanouts=[5, 2**40], batch_size=8), "fanouts"),
        (dict(fanouts=[5], batch_size=2**70), "batch_size"),
        (dict(parts=4, workers=-1), "workers"),
        (dict(parts=4, seed=-3), "seed"),
        (dict(roots=10**20), "roots"),
    ],
)
def test_an_integer_out_of_range_is_a_value_error_naming_the_argument(cora, kwargs, name):
    with pytest.raises(ValueError, match=f"^{name}: .* is out of range"):
        mille.Loader(cora, **kwargs)


def test_sampled_batches_with_self_loops_are_refused_with_the_reason(cora):
    with pytest.raises(ValueError, match="fanouts= with self_loops=True.*trim_to_layer"):
        mille.Loader(cora, fanouts=[5, 5], batch_size=16, self_loops=True)


def test_len_is_the_current_epochs_batch_count(cora):
    # len() keeps the count of the epoch last asked about (a GraphSAINT plan draws all its walk
    # roots, so it is not redrawn at every call) and follows set_epoch.
    loader = mille.Loader(cora, roots=200, walk_length=2, coverage=5)
    n = len(loader)
    assert all(len(loader) == n for _ in range(50))
    assert n == len(list(loader.epoch(0)))
    loader.set_epoch(1)
    assert len(loader) == len(list(loader.epoch(1)))


def test_prepare_refuses_a_name_that_is_a_path_and_a_huge_class_count_without_the_flag(tmp_path):
    from conftest import REPO

    src = REPO / "fixtures" / "products_like"
    for name in ["../escape", "/tmp/abs", "a/b"]:
        with pytest.raises(ValueError, match="one plain folder name"):
            mille.prepare(src, name, tmp_path, verbose=False)
    with pytest.raises(mille.MilleError, match="more than 1000000 classes needs --allow-many-classes"):
        mille.prepare(src, "big", tmp_path, num_classes=2**31 - 1, verbose=False)
    assert list(tmp_path.iterdir()) == []
    store = mille.Store(mille.prepare(src, "big", tmp_path, num_classes=2**31 - 1, allow_many_classes=True, verbose=False))
    assert store.num_classes == 2**31 - 1
