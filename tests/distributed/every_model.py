"""Run by tests/test_distributed.py under torchrun: every registered model trains a few steps under
DistributedDataParallel; writes {model: error or None} and each rank's weight checksums to argv[1]."""
import json
import sys
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest import small_model  # noqa: E402

from ctrkit.models import MODELS  # noqa: E402
from ctrkit.train import Trainer  # noqa: E402
from ctrkit.train import distributed  # noqa: E402

group = distributed.join()
results = {}
for name in MODELS:
    try:
        model, data = small_model(name, "sequence")
        Trainer(model, epochs=1, batch_size=16, threads=1, progress=False).fit(data)
        checksum = float(sum(p.double().sum() for p in model.state_dict().values()))
        sums = distributed.gather(checksum)
        results[name] = None if len(set(sums)) == 1 else f"ranks' weights differ: {sums}"
    except Exception as exc:   # noqa: BLE001 - every model's failure is reported, not only the first
        results[name] = f"{type(exc).__name__}: {exc}"
if group.main:
    Path(sys.argv[1]).write_text(json.dumps(results, indent=1))
distributed.leave()
