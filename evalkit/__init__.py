"""evalkit: pass@k evaluation for post-trained reasoning models.

benchmark adapter -> Problem[] -> prompt -> sampler -> Sample stream -> verifier -> Grade stream -> pass@k

The Python API (evalkit/api.py): `evalkit.evaluate(model, bench, ...)`, `evalkit.score(bench, completions, ...)`,
both returning `evalkit.Result`; failures raise `evalkit.EvalkitError`. Names load on first use, so importing
evalkit stays cheap.
"""

__version__ = "0.1.0"
__all__ = ["evaluate", "score", "Result", "EvalkitError", "__version__"]


def __getattr__(name: str):
    if name in ("evaluate", "score", "Result"):
        from . import api

        return getattr(api, name)
    if name == "EvalkitError":
        from .types import EvalkitError

        return EvalkitError
    raise AttributeError(f"module 'evalkit' has no attribute {name!r}")
