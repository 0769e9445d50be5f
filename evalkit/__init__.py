"""evalkit: pass@k evaluation for post-trained reasoning models.

benchmark adapter -> Problem[] -> prompt -> sampler -> Sample stream -> verifier -> Grade stream -> pass@k
"""

__version__ = "0.1.0"
