"""llmpulse's Grafana dashboards, built as code on the metric contract in DESIGN.md.

Layout follows the kubernetes-mixin split: ``config.py`` (selectors, thresholds, UIDs),
``variables.py`` (template variables and the selector they make), ``queries.py`` (every PromQL
expression), ``panels.py`` (how a panel looks), ``boards/`` (which panels each dashboard has) and
``generate.py`` (writes ``llmpulse-*.json`` beside this file; ``--check`` fails on drift).

Regenerate with ``python -m dashboards.generate`` from the repository root.
"""
