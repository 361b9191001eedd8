"""The checkpoint's protobuf modules (checkpoint_pb2 and the model_pb2 and
train_pb2 it imports), generated from proto/*.proto with protoc on first use
and cached, so no manual protoc step is needed.

The cache ($LOCKSTEP_PB_CACHE, else $XDG_CACHE_HOME/lockstep or
~/.cache/lockstep) holds one folder per content of the .proto files and
python-protobuf version: an edited schema or an upgraded protobuf gets fresh
modules. Where the cache cannot be written, a temporary folder is used.
The .proto files are found at $LOCKSTEP_PROTO_DIR, else three levels up from
this package: proto/ in the sources, share/lockstep/proto when installed.
"""
import atexit
import hashlib
import importlib
import os
import shutil
import subprocess
import sys
import tempfile

import google.protobuf

from .errors import EXIT_RUNTIME, Error

PROTOS = ("model.proto", "train.proto", "checkpoint.proto")


def proto_dir():
    here = os.path.dirname(os.path.abspath(__file__))
    return os.environ.get("LOCKSTEP_PROTO_DIR") or os.path.normpath(os.path.join(here, "..", "..", "..", "proto"))


def _cache_root():
    if os.environ.get("LOCKSTEP_PB_CACHE"):
        return os.environ["LOCKSTEP_PB_CACHE"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "lockstep")


def _fingerprint(source):
    digest = hashlib.sha256(google.protobuf.__version__.encode())
    for name in PROTOS:
        path = os.path.join(source, name)
        try:
            with open(path, "rb") as f:
                digest.update(name.encode() + b"\0" + f.read())
        except OSError as e:
            raise Error(path, f"cannot read the checkpoint schema: {e.strerror} (set LOCKSTEP_PROTO_DIR)", EXIT_RUNTIME)
    return digest.hexdigest()[:16]


def _protoc(source, out):
    command = ["protoc", f"--proto_path={source}", f"--python_out={out}"] + [os.path.join(source, p) for p in PROTOS]
    try:
        subprocess.run(command, check=True, capture_output=True, text=True)
    except OSError as e:
        raise Error("protoc", f"cannot run it: {e.strerror} (Debian: apt-get install protobuf-compiler)", EXIT_RUNTIME)
    except subprocess.CalledProcessError as e:
        reason = e.stderr.strip().splitlines()[-1] if e.stderr.strip() else f"exit status {e.returncode}"
        raise Error("protoc", f"generating the Python modules failed: {reason}", EXIT_RUNTIME)


def _generate_into_cache(source, target):
    """protoc into a fresh folder beside `target`, renamed into place whole,
    so a concurrent reader sees all the modules or none."""
    os.makedirs(os.path.dirname(target), exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".partial-", dir=os.path.dirname(target))
    try:
        _protoc(source, staging)
        os.rename(staging, target)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if not os.path.isdir(target):  # not another process having won the race
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _modules_dir():
    source = proto_dir()
    target = os.path.join(_cache_root(), "python_pb-" + _fingerprint(source))
    if os.path.exists(os.path.join(target, "checkpoint_pb2.py")):
        return target
    try:
        _generate_into_cache(source, target)
        return target
    except OSError:
        out = tempfile.mkdtemp(prefix="lockstep_pb_")
        atexit.register(shutil.rmtree, out, ignore_errors=True)
        _protoc(source, out)
        return out


def checkpoint_pb2():
    """The module, generated if needed (once per process)."""
    if "checkpoint_pb2" not in sys.modules:
        sys.path.insert(0, _modules_dir())  # the generated modules import each other by top-level name
    return importlib.import_module("checkpoint_pb2")
