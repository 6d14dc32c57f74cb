"""What a channel adapter is, and how the channels runtime finds one.

An adapter turns what a provider sends into `InboundMessage` events and delivers `OutboundMessage`
events; it knows nothing of threading or routing. It is found through the Python entry-point group
`inbox.channel_adapters`, so a new channel is a new package, not an edit to the runtime.
"""

from inbox_channel_sdk.adapter import (
    ENTRY_POINT_GROUP,
    AdapterHost,
    CallbackCapable,
    CallbackStarted,
    Capabilities,
    ChannelAdapter,
    ConsentAware,
    DeliveryResult,
    Erasable,
    HealthReport,
    InboundUnavailable,
    NormalisesContacts,
    SignalAware,
    TypingCapable,
    load_adapters,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "AdapterHost",
    "CallbackCapable",
    "CallbackStarted",
    "Capabilities",
    "ChannelAdapter",
    "ConsentAware",
    "DeliveryResult",
    "Erasable",
    "HealthReport",
    "InboundUnavailable",
    "NormalisesContacts",
    "SignalAware",
    "TypingCapable",
    "load_adapters",
]
