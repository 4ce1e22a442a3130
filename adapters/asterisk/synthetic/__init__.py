"""Synthetic Asterisk 20 (chan_sip) AMI traffic of a dealership service desk.

Event shapes are copied from the real captures in ``/work/shared/fixtures/asterisk``; see
``TrafficGenerator`` for concurrent calls with ground truth and ``generate_stream`` for bulk bytes.
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
