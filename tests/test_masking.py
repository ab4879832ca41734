"""The setup token is masked on the user's screen however the output is chunked, paused,
coloured or wrapped; and what is read is the whole token or a doubt, never a piece."""

from __future__ import annotations

import re

import pytest

from launcher.login.setup import MASK, Masker

BODY = b"AbC_dEf-123456789xYz"
TOKEN = b"sk-ant-oat01-" + BODY
TEXT = b"Your OAuth token:\r\n\r\n" + TOKEN + b"\r\n\r\nStore it securely.\r\n"
CSI = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]")


def _shown(m: Masker, chunks: list[bytes]) -> bytes:
    return b"".join(m.feed(c) for c in chunks) + m.flush()


def _leaks(shown: bytes, body: bytes = BODY) -> list[bytes]:
    """Every 4-byte piece of the body that is on the screen, escape codes and breaks removed."""
    flat = CSI.sub(b"", shown).replace(b"\r", b"").replace(b"\n", b"")
    return [body[i : i + 4] for i in range(len(body) - 3) if body[i : i + 4] in flat]


@pytest.mark.parametrize("cut", range(1, len(TEXT)))
def test_token_masked_at_every_chunk_boundary(cut: int) -> None:
    m = Masker()
    shown = _shown(m, [TEXT[:cut], TEXT[cut:]])
    assert shown == TEXT.replace(TOKEN, MASK)
    assert m.tokens == [TOKEN]


def test_byte_by_byte() -> None:
    m = Masker()
    shown = _shown(m, [TEXT[i : i + 1] for i in range(len(TEXT))])
    assert shown == TEXT.replace(TOKEN, MASK)
    assert m.tokens == [TOKEN]


def test_text_without_token_passes_through_at_once() -> None:
    m = Masker()
    assert m.feed(b"Paste code here if prompted > ") == b"Paste code here if prompted > "
    assert not m.holding


@pytest.mark.parametrize("cut", range(1, len(TOKEN)))
def test_what_is_shown_before_the_token_ends_holds_nothing_of_it(cut: int) -> None:
    # What a pause anywhere shows: at most the public prefix, never a byte of the body.
    m = Masker()
    early = m.feed(b"token: " + TOKEN[:cut])
    assert early == b"token: " + TOKEN[: min(cut, len(MASK) - 8)]
    assert m.holding == (cut >= len(b"sk-ant-oat01-"))


def test_flush_masks_a_held_token_instead_of_showing_it() -> None:
    m = Masker()
    shown = m.feed(b"here: " + TOKEN) + m.flush()
    assert shown == b"here: " + MASK
    assert m.tokens == [TOKEN]


def test_a_prefix_alone_is_not_a_token() -> None:
    m = Masker()
    assert (
        _shown(m, [b"sk-ant-oat01-\r\nsk-ant-oat0 sk-ant-"])
        == b"sk-ant-oat01-\r\nsk-ant-oat0 sk-ant-"
    )
    assert m.tokens == []


def test_a_false_start_does_not_hide_a_token_right_after() -> None:
    m = Masker()
    shown = _shown(m, [b"ssk-ant-sk-ant-oat01-", BODY, b" ok"])
    assert shown == b"ssk-ant-" + MASK + b" ok"
    assert m.tokens == [TOKEN]


def test_colour_codes_inside_the_token() -> None:
    coloured = b"\x1b[1msk-ant-\x1b[0m\x1b[32moat01-AbC_d\x1b[39mEf-12345\x1b[0;1m6789xYz\x1b[0m"
    for size in (1, 3, len(coloured)):
        m = Masker()
        chunks = [coloured[i : i + size] for i in range(0, len(coloured), size)]
        shown = _shown(m, [*chunks, b"\r\n\r\nnext\r\n"])
        assert _leaks(shown) == []
        assert m.tokens == [TOKEN]
        # The codes inside the body follow the mask, so the colours end as the program meant.
        assert shown.endswith(b"********\x1b[39m\x1b[0;1m\x1b[0m\r\n\r\nnext\r\n")


@pytest.mark.parametrize("width", [20, 24, 33, 40])
def test_a_token_hard_wrapped_at_the_terminal_width(width: int) -> None:
    long_body = b"QwErTyUiOp_AsDfGhJkL-zXcVbNm0123456789qAzWsXeDcRfVtGbYhNuJmIkOlP"
    token = b"sk-ant-oat01-" + long_body
    lines = [token[i : i + width] for i in range(0, len(token), width)]
    text = b"\r\n" + b"\r\n".join(lines) + b"\r\n\r\nStore this token securely.\r\n"
    for size in (1, 7, len(text)):
        m = Masker(width=width)
        shown = _shown(m, [text[i : i + size] for i in range(0, len(text), size)])
        assert _leaks(shown, long_body) == [], shown
        assert m.tokens == [token]
        assert not m.unsure
        assert shown.endswith(b"********\r\n\r\nStore this token securely.\r\n")


def test_a_wrapped_and_indented_token() -> None:
    token = b"sk-ant-oat01-" + BODY
    text = b"  " + token[:18] + b"\r\n  " + token[18:] + b"\r\n\r\n  Done\r\n"
    m = Masker(width=20)
    shown = _shown(m, [text])
    assert m.tokens == [token]
    assert shown == b"  " + MASK + b"\r\n\r\n  Done\r\n"


def test_a_token_ending_exactly_at_the_width_is_whole() -> None:
    m = Masker(width=len(TOKEN))
    shown = _shown(m, [TOKEN + b"\r\n\r\nStore it.\r\n"])
    assert shown == MASK + b"\r\n\r\nStore it.\r\n"
    assert m.tokens == [TOKEN]
    assert not m.unsure


def test_a_line_of_token_characters_after_an_early_break_is_masked_and_not_trusted() -> None:
    # Wrapped at some width other than the terminal's: the second line may be the token's end.
    m = Masker(width=80)
    shown = _shown(m, [TOKEN[:20] + b"\r\n" + TOKEN[20:] + b"\r\n"])
    assert _leaks(shown) == []
    assert m.unsure


def test_text_after_the_token_on_the_next_line_is_shown() -> None:
    m = Masker(width=80)
    shown = _shown(m, [TOKEN + b"\r\nStore it, sk-ant-oat01-", b"SeCoNd and more\r\n"])
    assert shown == MASK + b"\r\nStore it, " + MASK + b" and more\r\n"
    assert m.tokens == [TOKEN, b"sk-ant-oat01-SeCoNd"]
    assert not m.unsure


def test_a_token_inside_an_escape_string_is_masked_too() -> None:
    # An OSC 8 hyperlink carrying the token in its address.
    link = b"\x1b]8;;https://example.com/?t=" + TOKEN + b"\x1b\\link\x1b]8;;\x1b\\"
    m = Masker()
    shown = _shown(m, [link])
    assert _leaks(shown) == []
    assert m.tokens == [TOKEN]


def test_a_prefix_hard_wrapped_at_the_width_still_starts_a_token() -> None:
    line = b"token:" + b" " * 9 + TOKEN  # the prefix's first five bytes end the first line
    text = line[:20] + b"\r\n" + line[20:] + b"\r\n\r\nok\r\n"
    m = Masker(width=20)
    shown = _shown(m, [text])
    assert _leaks(shown) == []
    assert m.tokens == [TOKEN]
    assert shown == line[:20] + b"\r\n" + b"t-oat01-********\r\n\r\nok\r\n"


def test_an_escape_that_is_not_a_csi_does_not_swallow_the_tokens_start() -> None:
    # ESC 7 / ESC 8 (save and restore the cursor) around the token: two bytes each, not a CSI
    # that would run on into the token and take its "s" for a final byte.
    m = Masker()
    shown = _shown(m, [b"\x1b7" + TOKEN + b"\x1b8\r\n"])
    assert shown == b"\x1b7" + MASK + b"\x1b8\r\n"
    assert m.tokens == [TOKEN]


@pytest.mark.parametrize("cut", range(1, len(TOKEN) + 4))
def test_a_charset_escape_inside_the_token_is_skipped_wherever_it_is_cut(cut: int) -> None:
    # ESC ( B is three bytes, not a CSI: taken as text, it ended the token and showed its tail.
    line = TOKEN[:20] + b"\x1b(B" + TOKEN[20:] + b"\r\n"
    m = Masker()
    shown = _shown(m, [line[:cut], line[cut:]])
    assert _leaks(re.sub(rb"\x1b[ -/]*[0-~]", b"", shown)) == []
    assert m.tokens == [TOKEN]
    assert shown == MASK + b"\x1b(B\r\n"


@pytest.mark.parametrize(
    "prefix", [b"sk-ant-oat02-", b"sk-ant-sid01-", b"sk-ant-api03-", b"sk-ant-abcdefgh1234-"]
)
def test_a_token_is_known_by_its_shape(prefix: bytes) -> None:
    m = Masker()
    shown = _shown(m, [b"ssk-ant-sk-ant-x " + prefix + BODY + b" ok"])
    assert shown == b"ssk-ant-sk-ant-x " + prefix + b"******** ok"
    assert m.tokens == [prefix + BODY]


@pytest.mark.parametrize(
    "text", [b"sk-ant-oat-x", b"sk-ant-01-x", b"sk-ant-abcdefghi1-x", b"sk-ant-oat12345-x"]
)
def test_what_has_not_the_shape_is_not_a_token(text: bytes) -> None:
    m = Masker()
    assert _shown(m, [text + b" done"]) == text + b" done"
    assert m.tokens == []
