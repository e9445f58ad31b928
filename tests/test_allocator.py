"""keep_freed_memory: freed activations stay mapped for the next step (checked in fresh processes,
since the malloc settings are per process)."""
import os
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                                reason="the malloc settings apply to glibc only")

# Eight 3 MiB blocks at once, freed together, twenty times: the page faults of the last twenty rounds.
PAGES = 20 * 8 * 3 * 2**20 // 4096     # the pages those rounds touch
STEPS = """
import resource, sys
import numpy as np
from ctrkit.inference.allocator import keep_freed_memory
applied = keep_freed_memory() if sys.argv[1] == "keep" else False
def rounds(n):
    for _ in range(n):
        blocks = [np.ones(3 * 2**20 // 8) for _ in range(8)]
        del blocks
rounds(3)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
rounds(20)
print(applied, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str, **env: str):
    out = subprocess.run([sys.executable, "-c", STEPS, mode], check=True, capture_output=True, text=True,
                         env={**os.environ, **env}).stdout.split()
    return out[0] == "True", int(out[1])


def test_freed_blocks_are_reused_without_page_faults():
    applied, kept = _faults("keep")
    _, plain = _faults("plain")
    assert applied
    assert kept < PAGES // 20            # the blocks stay mapped: almost no faults
    assert plain > PAGES // 2            # glibc's defaults hand them back and fault them in every round


def test_malloc_settings_from_the_environment_are_left_alone():
    applied, faults = _faults("keep", GLIBC_TUNABLES="glibc.malloc.trim_threshold=131072")
    assert not applied
    assert faults > PAGES // 2


def test_ctrkit_malloc_system_keeps_glibc_defaults():
    applied, faults = _faults("keep", CTRKIT_MALLOC="system")
    assert not applied
    assert faults > PAGES // 2


def test_training_and_prediction_apply_it():
    code = ("from ctrkit.datasets import prepare, synthetic; from ctrkit.models import build_model;"
            "from ctrkit.train import Trainer; from ctrkit.inference.allocator import keep_freed_memory;"
            "from ctrkit.inference import predict;"
            "p = prepare(synthetic.load(300, seed=0, n_numeric=1, n_categorical=4, vocab_max=20, n_pairs=1,"
            " n_triples=0, n_first_order=2));"
            "m = build_model('lr', p.processor.feature_map()); predict(m, p.splits['valid']);"
            "print(keep_freed_memory.cache_info().currsize); Trainer(m, epochs=1, progress=False);"
            "print(keep_freed_memory.cache_info().hits, keep_freed_memory())")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.split()
    assert out == ["1", "1", "True"]
