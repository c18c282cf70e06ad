"""One process of the two-process DDP test (launched by ``torch.distributed.run``).

Trains ``argv[1]`` (a JSON config) into ``argv[2]`` and records, per rank, the final weights,
the returned history and which files this rank wrote, for ``test_distributed.py``.
"""

import json
import os
import sys
from pathlib import Path

import torch

import nfp_lib.torch_backend.train as train
from nfp_lib.config import Config

torch.set_num_threads(1)
rank = int(os.environ["RANK"])
out = Path(sys.argv[2])
models, writes = [], []
original = {name: getattr(train, name) for name in ("build_model", "save_checkpoint")}


def build_model(config):
    models.append(original["build_model"](config))
    return models[-1]


def save_checkpoint(path, *args, **kwargs):
    writes.append(path.name)
    return original["save_checkpoint"](path, *args, **kwargs)


train.build_model = build_model
train.save_checkpoint = save_checkpoint

history = train.fit(Config.from_dict(json.loads(sys.argv[1])), out, device="cpu", progress=False)
torch.save(models[0].state_dict(), out / f"rank{rank}.pt")
(out / f"rank{rank}.json").write_text(json.dumps({"history": history, "writes": writes}))
