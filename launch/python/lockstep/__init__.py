"""lockstep from Python: read checkpoints without any lockstep code.

    import sys; sys.path.insert(0, "launch/python")   # installed: share/lockstep/launch/python
    import lockstep
    header, tensors = lockstep.load_checkpoint("runs/seed_mlp/final/model.pb")
    tensors["dense_1/kernel"]   # numpy float32 array, shaped like the tensor

Needs numpy, python3-protobuf and protoc (Debian: protobuf-compiler), which
generates the protobuf modules from proto/*.proto on first use.
"""
from .checkpoint import CheckpointError, load_checkpoint
from .errors import Error

__all__ = ["CheckpointError", "Error", "load_checkpoint"]
