#!/usr/bin/env python3
"""Prints what a lockstep checkpoint holds, read with nothing but the .proto
files, Debian's python3-protobuf, protoc and numpy — no lockstep code.

    /usr/bin/python3 launch/read_checkpoint.py runs/x/final/model.pb [--npz tensors.npz]

The reading is the `lockstep` package beside this script (launch/python/):
every checksum verified, tensors split over several records reassembled,
the protobuf modules generated with protoc on first use. From Python:

    sys.path.insert(0, "launch/python"); import lockstep
    header, tensors = lockstep.load_checkpoint(path)   # {name: numpy array}

Errors are one line, `error: WHERE: WHAT`, exit status 2 for a file that
is not a valid checkpoint, 1 when it cannot be read or protoc is missing.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "python"))
import lockstep  # noqa: E402


def load(path):
    """(header, {name: numpy array}); kept for scripts that import this file."""
    return lockstep.load_checkpoint(path)


def main():
    parser = argparse.ArgumentParser(description="Summarise (and optionally export) a lockstep checkpoint.")
    parser.add_argument("checkpoint")
    parser.add_argument("--npz", metavar="OUT", help="also save every tensor into OUT with numpy.savez")
    args = parser.parse_args()
    try:
        header, tensors = lockstep.load_checkpoint(args.checkpoint)
    except lockstep.Error as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(e.status)
    p = header.progress
    print(f"format {header.format_version}, {header.world_size} rank(s), optimizer {header.optimizer_kind}, "
          f"epoch {p.epoch + 1}, step {p.global_step}, {len(header.model.layers)} layers")
    for name, values in tensors.items():
        print(f"{name} {tuple(values.shape)}")
    if args.npz:
        try:
            import numpy as np
            with open(args.npz, "wb") as f:
                np.savez(f, **tensors)
        except OSError as e:
            print(f"error: {args.npz}: cannot write: {e.strerror}", file=sys.stderr)
            sys.exit(1)


if __name__ == "__main__":
    main()
