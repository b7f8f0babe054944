"""Price LLM calls from a dated price table (shipped, or the user's own file).

The cost is computed from the canonical (cache-inclusive) token counts:
``(input − cache_read − cache_write)·input + cache_read·cache_read + cache_write·cache_write +
(output − reasoning)·output + reasoning·reasoning``. A model missing from the table is
*unpriced*: counted as such, never priced at 0. If the library reported a cost itself, that is
used for an unpriced model and marked ``reported`` in the price version.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from llmpulse.call import LLMCall

_PREFIXES = re.compile(
    r"^(?:models/|openai/|anthropic/|google/|gemini/|vertex_ai/|bedrock/|dashscope/|deepseek/|mistral/|"
    r"(?:us|eu|apac|global)\.anthropic\.|anthropic\.)"
)


@dataclass(frozen=True, slots=True)
class Price:
    input: float
    output: float
    cache_read: float
    cache_write: float
    reasoning: float


#: not in the lookup cache yet (``None`` there means "known to have no price"); compared by identity
_UNKNOWN = Price(-1.0, -1.0, -1.0, -1.0, -1.0)


class PriceTable:
    """Model → per-token prices, with prefix matching for dated model ids.

    >>> table = PriceTable.load()
    >>> table.lookup("gpt-4o-mini-2024-07-18") is not None
    True
    """

    def __init__(self, version: str, prices: dict[str, Price]) -> None:
        self.version = version
        self._prices = prices
        self._by_length = sorted(prices, key=len, reverse=True)
        self._cache: dict[str, Price | None] = {}

    @classmethod
    def load(cls, override: Path | None = None) -> PriceTable:
        shipped = yaml.safe_load(resources.files("llmpulse.enrich").joinpath("prices.yaml").read_text())
        version = str(shipped["version"])
        prices = {k.lower(): _price(k, v) for k, v in shipped["models"].items()}
        if override is not None:
            extra = yaml.safe_load(override.read_text()) or {}
            prices.update({k.lower(): _price(k, v) for k, v in (extra.get("models") or {}).items()})
            version = f"{extra.get('version', override.name)}+{version}"
        return cls(version, prices)

    def lookup(self, model: str) -> Price | None:
        # cached as sent and lowercased: a repeat needs no lower() (every entry is the price of
        # its key's lowercase form)
        found = self._cache.get(model, _UNKNOWN)
        if found is not _UNKNOWN:
            return found
        key = model.lower()
        found = self._cache.get(key, _UNKNOWN)
        if found is _UNKNOWN:
            name = _PREFIXES.sub("", key)
            found = self._prices.get(name)
            if found is None:
                for candidate in self._by_length:
                    if name.startswith(candidate) and (
                        len(name) == len(candidate) or name[len(candidate)] in "-:@."
                    ):
                        found = self._prices[candidate]
                        break
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[key] = self._cache[model] = found
        return found

    def price(self, call: LLMCall) -> None:
        """Set ``cost_usd`` and ``price_version`` on ``call`` when its usage is known."""
        if call.input_tokens is None and call.output_tokens is None:
            return
        # the response model first, then the requested one (no tuple to build and iterate per call)
        price = None
        model = call.response_model
        if model:
            price = self.lookup(model)
        if price is None:
            model = call.request_model
            if model:
                price = self.lookup(model)
        if price is None:
            # a library's own 0 for a model it could not price either is not a price
            if call.reported_cost_usd:
                call.cost_usd = call.reported_cost_usd
                call.price_version = f"reported:{call.dialect}"
            return
        inp = call.input_tokens or 0
        out = call.output_tokens or 0
        cache_read = min(call.cache_read_tokens or 0, inp)
        cache_write = min(call.cache_write_tokens or 0, inp - cache_read)
        reasoning = min(call.reasoning_tokens or 0, out)
        cost = (
            (inp - cache_read - cache_write) * price.input
            + cache_read * price.cache_read
            + cache_write * price.cache_write
            + (out - reasoning) * price.output
            + reasoning * price.reasoning
        )
        call.cost_usd = cost
        call.price_version = self.version


def _price(model: str, entry: Any) -> Price:
    """Per-token prices from a table entry given per million tokens."""
    if not isinstance(entry, dict) or "input" not in entry or "output" not in entry:
        raise ValueError(f"price for {model!r} needs at least `input` and `output` (USD per 1M tokens)")
    per = 1e6
    inp = float(entry["input"]) / per
    out = float(entry["output"]) / per
    return Price(
        input=inp,
        output=out,
        cache_read=float(entry["cache_read"]) / per if "cache_read" in entry else inp,
        cache_write=float(entry["cache_write"]) / per if "cache_write" in entry else inp,
        reasoning=float(entry["reasoning"]) / per if "reasoning" in entry else out,
    )
