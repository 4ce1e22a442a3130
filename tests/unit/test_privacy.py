from __future__ import annotations

import pytest

from monitor.domain.privacy import key_number, mask_address, mask_message_text, mask_number, normalise_number


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("+13135550101", "+1313555****"),
        ("(313) 555-0101", "313555****"),
        ("201", "201"),
        ("600", "600"),
        ("", ""),
    ],
)
def test_mask_number(number: str, masked: str) -> None:
    assert mask_number(number) == masked


def test_key_is_stable_over_formatting_and_depends_on_key() -> None:
    assert normalise_number(" +1 (313) 555-0101 ") == "+13135550101"
    assert key_number(b"k" * 16, "+1 313 555 0101") == key_number(b"k" * 16, "+13135550101")
    assert key_number(b"k" * 16, "+13135550101") != key_number(b"j" * 16, "+13135550101")


def test_mask_address() -> None:
    assert mask_address("Jane.Doe@Example.com") == "J***@example.com"


def test_evidence_text_masks_numbers_and_names_but_keeps_ids() -> None:
    raw = (
        "Event: DialBegin\r\nCallerIDNum: +13135550113\r\nCallerIDName: Bo Li\r\nUniqueid: 1795499383.32\r\n"
        'ConnectedLineName: <unknown>\r\nAppData: call from "Pete" <+13135550113>\r\n'
        "DestExten: 13135550123\r\n"
        "Exten: 600\r\nMemberName: Alice Advisor\r\nLinkedid: 1795499383.32\r\n\r\n"
    )
    out = mask_message_text(raw)
    assert "5550113" not in out and "5550123" not in out and "Bo Li" not in out
    assert "Uniqueid: 1795499383.32\r\n" in out and "Linkedid: 1795499383.32\r\n" in out
    assert "Exten: 600\r\n" in out and "MemberName: Alice Advisor\r\n" in out
    assert "CallerIDNum: +1313555****\r\n" in out and out.endswith("\r\n\r\n")
