"""The firmware travels with the wheel: CMakeLists.txt, cmake/ and firmware/ are copied into
host/firmware_tree/ of the built package, where host/build.py finds them when trixcfc is
installed rather than run from a checkout. Everything else is in pyproject.toml."""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
FIRMWARE_TREE = ("CMakeLists.txt", "cmake", "firmware")


class BuildPyWithFirmware(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):        # an editable install runs from the checkout
            return
        dest = Path(self.build_lib) / "host" / "firmware_tree"
        shutil.rmtree(dest, ignore_errors=True)
        for name in FIRMWARE_TREE:
            src = ROOT / name
            if src.is_dir():
                shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                dest.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dest / name)


setup(cmdclass={"build_py": BuildPyWithFirmware})
