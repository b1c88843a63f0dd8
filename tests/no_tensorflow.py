"""The first lines of a subprocess script that must run with every `tensorflow` import blocked."""

BLOCK_TENSORFLOW = r"""
import importlib.abc, os, sys

class BlockTensorFlow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ImportError(f"No module named {name!r} (blocked by the test)")
        return None

sys.meta_path.insert(0, BlockTensorFlow())
"""
