"""A local WhatsApp Cloud API: Meta's wire format, validation, status webhooks and faults.

Written from Meta's documentation, independently of WazyBot's own Graph API client, so
that it can catch that client's mistakes.
"""

from adapters.whatsapp.simulator.app import CloudApiSimulator, ControlError
from adapters.whatsapp.simulator.faults import Fault, FaultKind
from adapters.whatsapp.simulator.server import running
from adapters.whatsapp.simulator.webhooks import Business, Customer, Delivery

__all__ = [
    "Business",
    "CloudApiSimulator",
    "ControlError",
    "Customer",
    "Delivery",
    "Fault",
    "FaultKind",
    "running",
]
