"""Synthetic Asterisk 20 (chan_sip) AMI traffic of a dealership service desk.

Event shapes are copied from the real captures in ``/work/shared/fixtures/asterisk``; see
``TrafficGenerator`` for concurrent calls with ground truth and ``generate_stream`` for bulk bytes.

Scenarios (module): queue call answered, ring-no-answer rollover, unreachable advisor phone, abandon
in queue (also while an advisor rings), queue timeout to the service voicemail, holds
(``queue_call``); blind and attended transfers (``transfers``); direct dial answered, unanswered to
voicemail, busy advisor to voicemail, caller hang-up while ringing, after-hours voicemail
(``direct``); advisor-to-advisor and outbound calls through a carrier (``desk``).
"""

from adapters.asterisk.synthetic.expected import ExpectedCall, Hold, Leg, Transfer
from adapters.asterisk.synthetic.generator import TrafficGenerator
from adapters.asterisk.synthetic.profile import Dist, TrafficProfile
from adapters.asterisk.synthetic.stream import generate_stream

__all__ = [
    "Dist",
    "ExpectedCall",
    "Hold",
    "Leg",
    "TrafficGenerator",
    "TrafficProfile",
    "Transfer",
    "generate_stream",
]
