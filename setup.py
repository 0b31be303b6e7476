"""The one part of spibot in C: kb/_lines.c, the line finder of kb/markers.py.

It is optional: where no C compiler is found the install goes on without it, and the scanner
uses Hyperscan or Python's re instead (the same lines, several times slower on a big file).
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("kb._lines", ["kb/_lines.c"], optional=True)])
