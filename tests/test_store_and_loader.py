import numpy as np
import pytest
import torch

from ctrkit.data import BatchLoader
from ctrkit.io import EncodedArrays, read_split, write_split
from ctrkit.io.store import NpyAppender


def arrays(n=103, seed=0):
    rng = np.random.default_rng(seed)
    return EncodedArrays(cat=np.arange(n * 3, dtype=np.int32).reshape(n, 3), num=rng.normal(size=(n, 2)).astype(np.float32),
                         seq=rng.integers(0, 9, (n, 1, 4)).astype(np.int32), label=(np.arange(n) % 2).astype(np.float32))


def test_npy_appender_writes_a_standard_npy(tmp_path):
    path = str(tmp_path / "a.npy")
    w = NpyAppender(path, np.int32, (3,))
    w.append(np.ones((2, 3), np.int32))
    w.append(np.full((5, 3), 7, np.int32))
    w.close()
    data = np.load(path)
    assert data.shape == (7, 3) and data[:2].sum() == 6 and (data[2:] == 7).all()


def test_split_round_trip_memory_mapped(tmp_path):
    a = arrays()
    rows = write_split(str(tmp_path / "s"), [{k: v[:50] for k, v in a.arrays().items()},
                                            {k: v[50:] for k, v in a.arrays().items()}], {"note": "x"})
    assert rows == len(a)
    b = read_split(str(tmp_path / "s"))
    assert isinstance(b.cat, np.memmap) and b.info["note"] == "x"
    for name in ("cat", "num", "seq", "label"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def all_rows(loader):
    return np.concatenate([b.cat[:, 0].numpy() // 3 for b in loader])


@pytest.mark.parametrize("shuffle", ["rows", "blocks", "none"])
def test_every_row_once_per_epoch(shuffle):
    loader = BatchLoader(arrays(), batch_size=10, shuffle=shuffle, seed=3)
    assert len(loader) == 11
    first, second = all_rows(loader), all_rows(loader)
    assert sorted(first.tolist()) == list(range(103)) and sorted(second.tolist()) == list(range(103))
    if shuffle == "none":
        assert first.tolist() == list(range(103))
    else:
        assert first.tolist() != second.tolist()     # a new order each epoch


def test_same_seed_same_order_and_epoch_control():
    a = BatchLoader(arrays(), batch_size=8, seed=1)
    b = BatchLoader(arrays(), batch_size=8, seed=1)
    assert all_rows(a).tolist() == all_rows(b).tolist()
    b.set_epoch(0)
    c = BatchLoader(arrays(), batch_size=8, seed=2)
    assert all_rows(b).tolist() != all_rows(c).tolist()


def test_slices_are_zero_copy():
    data = arrays()
    batch = next(iter(BatchLoader(data, batch_size=10, shuffle="none")))
    assert batch.cat.data_ptr() == data.cat.ctypes.data
    assert batch.cat.dtype == torch.int32 and batch.num.dtype == torch.float32 and batch.label.shape == (10,)


def test_blocks_from_memory_map_are_zero_copy(tmp_path):
    arrays().save(str(tmp_path / "s"))
    data = read_split(str(tmp_path / "s"))
    batches = list(BatchLoader(data, batch_size=10, shuffle="blocks", seed=0))
    starts = {b.cat.data_ptr() for b in batches}
    assert starts <= {data.cat.ctypes.data + 10 * 3 * 4 * i for i in range(11)}


def test_drop_last():
    assert len(BatchLoader(arrays(), batch_size=10, drop_last=True)) == 10


def test_ranks_split_each_global_batch():
    """With world_size W, batch_size is the global batch: every rank steps once per batch of the
    one-process order and the ranks' parts of a step are that batch's rows, disjoint."""
    data = arrays()   # 103 rows
    one = BatchLoader(data, batch_size=30, seed=5)
    shards = [BatchLoader(data, batch_size=30, seed=5, rank=r, world_size=3) for r in range(3)]
    assert [len(s) for s in shards] == [4, 4, 4]    # 30, 30, 30 and the last 13 rows, split 4/4/5
    for whole, *parts in zip(one, *shards):   # in step: step_rows is the batch just yielded
        rows = np.concatenate([p.cat[:, 0].numpy() for p in parts])
        assert sorted(rows.tolist()) == sorted(whole.cat[:, 0].numpy().tolist())
        assert sum(len(p) for p in parts) == shards[0].step_rows == len(whole)


def test_a_last_batch_smaller_than_the_group_is_left_out():
    shards = [BatchLoader(arrays(), batch_size=101, rank=r, world_size=3) for r in range(3)]
    assert [len(s) for s in shards] == [1, 1, 1]    # 101; the last 2 rows cannot be split 3 ways


def test_bad_loader_options():
    with pytest.raises(ValueError, match="shuffle must be"):
        BatchLoader(arrays(), shuffle="sometimes")
    with pytest.raises(ValueError, match="rank 2 is not in"):
        BatchLoader(arrays(), rank=2, world_size=2)
