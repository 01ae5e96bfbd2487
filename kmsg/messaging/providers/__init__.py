"""Korean gateway providers, one module each, installed under the ``kmsg.providers`` entry points.

Each module names the public API document and section it follows, declares its settings as a
``Settings`` Struct (configured from ``K_MSG_<PROVIDER>_<FIELD>`` or ``kmsg.toml``, see
:mod:`kmsg.messaging.config`) and maps the gateway's answers to
:class:`~kmsg.ProviderErrorCode` values with the right retryable flag.
"""
