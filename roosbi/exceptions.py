"""Exceptions raised by roosbi. Every message says what was wrong and how to fix it."""


class RoosbiError(Exception):
    """Base class of all roosbi errors."""


class LibraryBuildError(RoosbiError):
    """The C++ library that holds RooLearnedRatio could not be built or loaded."""


class UnsupportedModelError(RoosbiError, ValueError):
    """An ONNX model cannot be translated into the layers RooLearnedRatio evaluates."""


class InputError(RoosbiError, ValueError):
    """Bad user input: unknown names, mismatched shapes, NaN or Inf in data, missing files."""
