"""Configuration: the typed model and the loader that merges file, environment and flags."""

from llmpulse.config._load import FLAG_PATHS, ConfigError, load_config, read_yaml, validate
from llmpulse.config._model import (
    AuthConfig,
    Config,
    DimensionConfig,
    EnrichConfig,
    ForwardConfig,
    ForwardTargetConfig,
    GRPCReceiverConfig,
    HTTPReceiverConfig,
    LimitsConfig,
    MetricsConfig,
    RedactionConfig,
    RemoteWriteConfig,
    RemoteWriteTargetConfig,
    TLSConfig,
)

__all__ = [
    "FLAG_PATHS",
    "AuthConfig",
    "Config",
    "ConfigError",
    "DimensionConfig",
    "EnrichConfig",
    "ForwardConfig",
    "ForwardTargetConfig",
    "GRPCReceiverConfig",
    "HTTPReceiverConfig",
    "LimitsConfig",
    "MetricsConfig",
    "RedactionConfig",
    "RemoteWriteConfig",
    "RemoteWriteTargetConfig",
    "TLSConfig",
    "load_config",
    "read_yaml",
    "validate",
]
