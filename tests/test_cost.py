"""Pricing: prefix matching of dated model ids, cache and reasoning prices, user overrides."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from llmpulse.call import LLMCall
from llmpulse.enrich import PriceTable

SHIPPED = yaml.safe_load(
    (Path(__file__).resolve().parents[1] / "processors/llmpulse/enrich/prices.yaml").read_text()
)


def _rate(model: str, kind: str) -> float:
    entry = SHIPPED["models"][model]
    return float(entry.get(kind, entry["output" if kind == "reasoning" else "input"])) / 1e6


@pytest.mark.parametrize(
    ("model", "key"),
    [
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("o3-mini-2025-01-31", "o3-mini"),
        ("claude-3-5-sonnet-20241022", "claude-3-5-sonnet"),
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5"),
        ("models/gemini-2.5-flash", "gemini-2.5-flash"),
        ("qwen-plus", "qwen-plus"),
        ("deepseek-chat", "deepseek-chat"),
        ("mistral-large-latest", "mistral-large"),
    ],
)
def test_dated_and_prefixed_model_ids_find_their_price(model: str, key: str) -> None:
    table = PriceTable.load()
    price = table.lookup(model)
    assert price is not None
    assert price.input == _rate(key, "input")
    assert price.output == _rate(key, "output")


def test_cost_uses_cache_and_reasoning_prices() -> None:
    table = PriceTable.load()
    call = LLMCall(
        dialect="semconv",
        request_model="claude-3-5-sonnet-latest",
        input_tokens=2601,
        output_tokens=9,
        cache_read_tokens=2048,
        cache_write_tokens=512,
    )
    table.price(call)
    expected = (
        41 * _rate("claude-3-5-sonnet", "input")
        + 2048 * _rate("claude-3-5-sonnet", "cache_read")
        + 512 * _rate("claude-3-5-sonnet", "cache_write")
        + 9 * _rate("claude-3-5-sonnet", "output")
    )
    assert call.cost_usd == pytest.approx(expected, rel=1e-12)
    assert call.price_version == SHIPPED["version"]


def test_unknown_model_is_unpriced_unless_the_library_reported_a_cost() -> None:
    table = PriceTable.load()
    call = LLMCall(dialect="openlit", request_model="my-finetune", input_tokens=10, output_tokens=10)
    table.price(call)
    assert (call.cost_usd, call.price_version) == (None, None)
    reported = LLMCall(
        dialect="openlit",
        request_model="my-finetune",
        input_tokens=10,
        output_tokens=10,
        reported_cost_usd=0.25,
    )
    table.price(reported)
    assert (reported.cost_usd, reported.price_version) == (0.25, "reported:openlit")


def test_user_price_file_adds_and_overrides_models(tmp_path: Path) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text(
        "version: acme-2026-10\nmodels:\n  my-finetune: {input: 1.0, output: 2.0}\n"
        "  gpt-4o-mini: {input: 0.10, output: 0.40}\n"
    )
    table = PriceTable.load(path)
    call = LLMCall(
        dialect="semconv", request_model="my-finetune", input_tokens=1_000_000, output_tokens=500_000
    )
    table.price(call)
    assert call.cost_usd == pytest.approx(2.0)
    assert call.price_version == f"acme-2026-10+{SHIPPED['version']}"
    mini = table.lookup("gpt-4o-mini-2024-07-18")
    assert mini is not None and mini.input == pytest.approx(0.10e-6)


def test_check_config_validates_the_price_file(tmp_path: Path) -> None:
    prices = tmp_path / "prices.yaml"
    prices.write_text("models:\n  broken: {input: 1.0}\n")
    config = tmp_path / "llmpulse.yaml"
    config.write_text(f"enrich:\n  prices_file: {prices}\n")
    result = subprocess.run(
        [sys.executable, "-m", "llmpulse", "check-config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "`enrich.prices_file`: price for 'broken' needs at least `input` and `output`" in result.stdout
