"""Bytes -> text for mail that lies about its charset.

Real mailboxes carry GBK labelled ``gb2312``, UTF-8 labelled ``big5``, raw KOI8-R with no label at
all and ``iso-8859-1`` that is really windows-1252. Decoding never raises: every guess or repair
is reported as a short reason so the caller can count it as a defect.
"""

from __future__ import annotations

import codecs

# Labels that name a subset of a wider charset: decoding with the superset is always right and
# rescues the bytes senders add beyond the label (the WHATWG Encoding Standard makes the same calls).
_SUPERSETS = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "euc-cn": "gb18030",
    "gb_2312-80": "gb18030",
    "chinese": "gb18030",
    "csgb2312": "gb18030",
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "l1": "cp1252",
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "ansi_x3.4-1968": "cp1252",
    "iso-8859-9": "cp1254",
    "iso-8859-11": "cp874",
    "tis-620": "cp874",
    "big5": "big5hkscs",
    "x-big5": "big5hkscs",
    "cn-big5": "big5hkscs",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "ms_kanji": "cp932",
    "euc-kr": "cp949",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "iso-8859-8-i": "iso-8859-8",
    "unicode-1-1-utf-7": "utf-7",
    "utf8": "utf-8",
    "x-unknown": "",
    "unknown-8bit": "",
    "unknown": "",
    "default": "",
}

# Encodings whose bytes are not ASCII-compatible: ASCII-looking data must still go through them.
_NON_ASCII_COMPATIBLE = ("utf_7", "utf_16", "utf_32", "iso2022")


def resolve(label: str | None) -> str | None:
    """A Python codec name for a MIME charset label, or None when unknown or absent."""
    if not label:
        return None
    name = label.strip().strip("\"'").lower()
    name = name.split("*", 1)[0]  # RFC 2231 language suffix: utf-8*en
    name = _SUPERSETS.get(name, name)
    if not name:
        return None
    try:
        return codecs.lookup(name).name
    except (LookupError, ValueError):
        return None


def _needs_codec_for_ascii(codec: str) -> bool:
    return any(codec.startswith(prefix) for prefix in _NON_ASCII_COMPATIBLE)


def _decode_replace(data: bytes, codec: str) -> str:
    try:
        return data.decode(codec, errors="replace")
    except Exception:  # a codec with a broken incremental state (rare): the bytes still matter
        return data.decode("latin-1")


# Relative frequency (per mille) of Russian letters: the decoding that reads most like Russian wins.
_RU_FREQ = dict(
    zip(
        "оеаинтсрвлкмдпуяыьгзбчйхжшюцщэфъё",
        (
            110,
            85,
            80,
            74,
            67,
            63,
            55,
            47,
            45,
            44,
            35,
            32,
            30,
            28,
            26,
            20,
            19,
            17,
            17,
            16,
            16,
            14,
            12,
            10,
            9,
            7,
            6,
            5,
            4,
            3,
            3,
            1,
            1,
        ),
        strict=True,
    )
)


def _russian_score(text: str) -> int:
    return sum(_RU_FREQ.get(ch, 0) for ch in text.lower())


def guess_legacy(data: bytes) -> str:
    """Codec for undeclared 8-bit text: KOI8-R or windows-1251 when it looks Cyrillic, else
    windows-1252 (the most common undeclared Western charset)."""
    high = sum(1 for b in data if b >= 0x80)
    letters = high + sum(1 for b in data if 0x41 <= b <= 0x5A or 0x61 <= b <= 0x7A)
    upper_half = sum(1 for b in data if b >= 0xC0)
    # Cyrillic text is mostly 8-bit letters, all of them in C0-FF in both KOI8-R and windows-1251;
    # Western text has an occasional accented letter between plain ASCII ones.
    if letters and high / letters > 0.3 and upper_half > 0.6 * high:
        return max(("koi8_r", "cp1251"), key=lambda c: _russian_score(data.decode(c, errors="replace")))
    return "cp1252"


def decode_bytes(data: bytes, declared: str | None) -> tuple[str, str | None]:
    """Text of ``data`` and, when the declared charset was missing, unknown or wrong, why."""
    if not data:
        return "", None
    codec = resolve(declared)
    if codec is not None and _needs_codec_for_ascii(codec):
        return _decode_replace(data, codec), None
    if data.isascii():
        return data.decode("ascii"), None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        # Valid multi-byte UTF-8 almost never happens by accident in a legacy charset, so the bytes
        # win over the label (UTF-8 bodies labelled big5 or iso-8859-1 are common).
        if codec == "utf-8" or not declared:
            return text, None
        if codec is None:
            return text, f"charset-unknown: {declared!r}, bytes are utf-8"
        return text, f"charset-mislabelled: declared {declared}, bytes are utf-8"
    if codec is not None and codec != "utf-8":
        try:
            return data.decode(codec), None
        except UnicodeDecodeError:
            guess = guess_legacy(data)
            return _decode_replace(data, guess), f"charset-invalid: not {declared}, decoded as {guess}"
    if codec == "utf-8":
        lenient = data.decode("utf-8", errors="replace")
        high = sum(1 for b in data if b >= 0x80)
        if lenient.count("\ufffd") * 10 <= high:
            return lenient, "charset-invalid: stray bytes in utf-8 replaced"
        guess = guess_legacy(data)
        return _decode_replace(data, guess), f"charset-invalid: not utf-8, decoded as {guess}"
    guess = guess_legacy(data)
    reason = f"charset-unknown: {declared!r}," if declared else "charset-missing:"
    return _decode_replace(data, guess), f"{reason} 8-bit text decoded as {guess}"
