"""The setup token is masked on the user's screen however the output is chunked."""

from __future__ import annotations

import pytest

from launcher.login.setup import MASK, Masker

TEXT = b"Your OAuth token:\r\n\r\nsk-ant-oat01-AbC_dEf-123456789\r\n\r\nStore it securely.\r\n"


@pytest.mark.parametrize("cut", range(1, len(TEXT)))
def test_token_masked_at_every_chunk_boundary(cut: int) -> None:
    m = Masker()
    shown = m.feed(TEXT[:cut]) + m.feed(TEXT[cut:]) + m.flush()
    assert b"AbC_dEf" not in shown
    assert shown == TEXT.replace(b"sk-ant-oat01-AbC_dEf-123456789", MASK)


def test_byte_by_byte() -> None:
    m = Masker()
    shown = b"".join(m.feed(TEXT[i : i + 1]) for i in range(len(TEXT))) + m.flush()
    assert shown == TEXT.replace(b"sk-ant-oat01-AbC_dEf-123456789", MASK)


def test_text_without_token_passes_through_at_once() -> None:
    m = Masker()
    assert m.feed(b"Paste code here if prompted > ") == b"Paste code here if prompted > "
