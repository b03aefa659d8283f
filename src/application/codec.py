"""The one reusable encoder/decoder for domain events."""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from domain.events import DomainEvent, EventMetadata, event_type_name


class UnknownEventTypeError(LookupError):
    """A stored or offered event type is not registered with the codec."""


class EventCodec:
    """Encodes events to JSON bytes and decodes them by their stored type name.

    Decoding picks the decoder by the row's ``type`` column rather than parsing
    a union, which is both faster and keeps the column the source of truth.
    """

    def __init__(self, event_types: Iterable[type[DomainEvent]]) -> None:
        self._decoders: dict[str, msgspec.json.Decoder[DomainEvent]] = {}
        self._names: dict[type[DomainEvent], str] = {}
        for event_type in event_types:
            name = event_type_name(event_type)
            if name in self._decoders:
                raise ValueError(f"two event types share the name {name!r}")
            self._names[event_type] = name
            self._decoders[name] = msgspec.json.Decoder(event_type)
        self._encoder = msgspec.json.Encoder()
        self._metadata_decoder = msgspec.json.Decoder(EventMetadata)

    @property
    def type_names(self) -> frozenset[str]:
        return frozenset(self._decoders)

    def type_name(self, event: DomainEvent) -> str:
        try:
            return self._names[type(event)]
        except KeyError:
            raise UnknownEventTypeError(
                f"{type(event).__name__} is not a registered event type"
            ) from None

    def encode(self, event: DomainEvent) -> bytes:
        self.type_name(event)
        return self._encoder.encode(event)

    def decode(self, type_name: str, data: bytes) -> DomainEvent:
        try:
            decoder = self._decoders[type_name]
        except KeyError:
            raise UnknownEventTypeError(f"no event type is registered as {type_name!r}") from None
        return decoder.decode(data)

    def encode_metadata(self, metadata: EventMetadata) -> bytes:
        return self._encoder.encode(metadata)

    def decode_metadata(self, data: bytes) -> EventMetadata:
        return self._metadata_decoder.decode(data)
