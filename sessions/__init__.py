"""The domain core: interactions, queues, the state machine, events and stores.

Plain Python with no web or provider framework in it; adapters translate,
this package decides.
"""

from .clock import Clock, ManualClock, SystemClock
from .errors import DomainError
from .events import Cursor, Event, EventPage
from .service import Sessions

__all__ = ["Clock", "Cursor", "DomainError", "Event", "EventPage", "ManualClock", "Sessions", "SystemClock"]
