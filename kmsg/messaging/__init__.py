"""The K-Message domain: messages, providers, templates and the message job processor.

::

    from kmsg.messaging import KMsg, MessageJobProcessor, MockProvider, Sms

    kmsg_ = KMsg(MockProvider(), queue)
    await kmsg_.send(Sms(to="+82 10-1234-5678", text="인증번호 123456"))

``HttpProvider`` lives in :mod:`kmsg.messaging.http` (it needs ``pip install "kmsg[http]"``); load
any registered provider by name with :func:`load_provider` (options as arguments) or
:func:`configure_provider` (settings from ``K_MSG_<NAME>_*`` variables and ``kmsg.toml``, see
:mod:`kmsg.messaging.config`).
"""

from kmsg.messaging.breaker import BreakerPolicy, CircuitBreaker, CircuitState
from kmsg.messaging.config import (
    ProviderTable,
    configure_provider,
    load_settings,
    read_provider_table,
)
from kmsg.messaging.delivery import (
    DeliveryReport,
    DeliveryState,
    DeliveryStatus,
    DeliveryStore,
    InMemoryDeliveryStore,
    get_delivery_status,
)
from kmsg.messaging.facade import Hooks, KMsg
from kmsg.messaging.mock import (
    Delay,
    Fail,
    MockCall,
    MockProvider,
    RateLimited,
    Scenario,
    Succeed,
    Timeout,
)
from kmsg.messaging.models import (
    AlimTalk,
    Button,
    FriendTalk,
    Lms,
    Message,
    MessagePriority,
    Mms,
    SendResult,
    Sms,
)
from kmsg.messaging.phone import InvalidPhoneNumber, PhoneKind, normalize_phone, phone_kind
from kmsg.messaging.processor import (
    BulkSendResult,
    FallbackResult,
    MessageJobProcessor,
    SendBulkMessagesJob,
    SendMessageJob,
    SendScheduledMessageJob,
    UpdateDeliveryStatusJob,
    enqueue_fallback,
    fallback_job_id,
    fallback_message,
    fan_out,
)
from kmsg.messaging.provider import (
    PROVIDER_GROUP,
    Provider,
    SupportsProbe,
    close_provider,
    load_provider,
    probe_provider,
)
from kmsg.messaging.routing import RoutingProvider
from kmsg.messaging.template_store import (
    InMemoryTemplateStore,
    ProviderTemplate,
    TemplatePage,
    TemplateStatus,
)
from kmsg.messaging.templates import MissingTemplateVariable, Template, render_template

__all__ = [
    "AlimTalk",
    "BreakerPolicy",
    "BulkSendResult",
    "Button",
    "CircuitBreaker",
    "CircuitState",
    "Delay",
    "DeliveryReport",
    "DeliveryState",
    "DeliveryStatus",
    "DeliveryStore",
    "Fail",
    "FallbackResult",
    "FriendTalk",
    "Hooks",
    "InMemoryDeliveryStore",
    "InMemoryTemplateStore",
    "InvalidPhoneNumber",
    "KMsg",
    "Lms",
    "Message",
    "MessageJobProcessor",
    "MessagePriority",
    "MissingTemplateVariable",
    "Mms",
    "MockCall",
    "MockProvider",
    "PROVIDER_GROUP",
    "PhoneKind",
    "Provider",
    "ProviderTable",
    "ProviderTemplate",
    "RateLimited",
    "RoutingProvider",
    "Scenario",
    "SendBulkMessagesJob",
    "SendMessageJob",
    "SendResult",
    "SendScheduledMessageJob",
    "Sms",
    "Succeed",
    "SupportsProbe",
    "Template",
    "TemplatePage",
    "TemplateStatus",
    "Timeout",
    "UpdateDeliveryStatusJob",
    "close_provider",
    "configure_provider",
    "enqueue_fallback",
    "fallback_job_id",
    "fallback_message",
    "fan_out",
    "get_delivery_status",
    "load_provider",
    "load_settings",
    "normalize_phone",
    "phone_kind",
    "probe_provider",
    "read_provider_table",
    "render_template",
]
