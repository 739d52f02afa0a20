"""sys2ft model worker: the only sys2ft process that loads model weights.

It serves batched generation, scoring, LoRA training and an adapter registry over HTTP
(see ``api.py`` and ``protocol.py`` for the contract).
"""

__version__ = "0.1.0"
