"""Builds the compiled scorer (pipeline/model/ngrams/_scorer.pyx); pyproject.toml holds everything else.

setuptools is the build backend because it compiles extensions: `uv sync` builds the project editable, which
puts the compiled module beside its source, where serving, the bento, the image and the Lambda zip take it.
The scorer only makes scoring faster, so a machine without a C compiler still installs the project, with a
warning, and scores through numpy (pipeline/model/ngrams/compiled.py).
"""

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CCompilerError, ExecError, PlatformError

COMPILER_ERRORS = (CCompilerError, ExecError, PlatformError, OSError)


class OptionalBuildExt(build_ext):
    """build_ext that warns instead of failing when there is no working C compiler."""

    def run(self) -> None:
        try:
            super().run()
        except COMPILER_ERRORS as error:
            self.warn(f"the compiled scorer was not built ({error}); scoring will use numpy, ~10x slower")

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except COMPILER_ERRORS as error:
            self.warn(f"{ext.name} was not built ({error}); scoring will use numpy, ~10x slower")
            self.extensions.remove(ext)  # nothing to copy into the source tree (editable installs) or the wheel


setup(
    ext_modules=cythonize(
        [
            Extension(
                "pipeline.model.ngrams._scorer",
                ["pipeline/model/ngrams/_scorer.pyx"],
                extra_compile_args=["-O3"],
                extra_link_args=["-s"],  # stripped: 0.25 MB instead of 1.5 MB in the image and the Lambda zip
            )
        ],
        compiler_directives={"language_level": "3"},
    ),
    cmdclass={"build_ext": OptionalBuildExt},
)
