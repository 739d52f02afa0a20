"""The canonical JSON the examples' sha256 is taken over, byte for byte what the training service
computes (``JSON.stringify`` of key-sorted objects): sorted keys, no spaces, UTF-8, and numbers as
ECMAScript writes them. Python's ``json`` writes ``1e-05`` and ``-3.0`` where JavaScript writes
``0.00001`` and ``-3``; distillation targets carry floats, and a job checks that the adapter's hash
is its own."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any


def js_number(x: float) -> str:
    """``Number.prototype.toString`` of a finite double: the same shortest digits as ``repr``, placed
    by ECMAScript's rule (plain notation for 1e-7 < |x| < 1e21, else an exponent)."""
    if x == 0:
        return "0"
    sign, digits, exp = Decimal(repr(x)).as_tuple()
    ds = "".join(map(str, digits)).rstrip("0") or "0"
    assert isinstance(exp, int)
    n = exp + len(digits)  # the value is 0.ds × 10^n
    k = len(ds)
    out: str
    if k <= n <= 21:
        out = ds + "0" * (n - k)
    elif 0 < n <= 21:
        out = ds[:n] + "." + ds[n:]
    elif -6 < n <= 0:
        out = "0." + "0" * -n + ds
    else:
        e = n - 1
        mantissa = ds if k == 1 else ds[0] + "." + ds[1:]
        out = f"{mantissa}e{'+' if e >= 0 else '-'}{abs(e)}"
    return ("-" if sign else "") + out


def canonical_json(value: Any) -> str:
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float):
        return js_number(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k, ensure_ascii=False)}:{canonical_json(value[k])}" for k in sorted(value)) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(canonical_json(v) for v in value) + "]"
    raise TypeError(f"not JSON: {type(value).__name__}")
