"""Masking the setup token on its way to the screen, and reading it whole from the same stream.

A terminal program's output reaches us in arbitrary pieces: a token may be split anywhere,
paused in the middle (even inside its prefix), coloured with escape codes, or hard-wrapped at
the terminal's width. So this is a byte-at-a-time state machine rather than a regular
expression over a buffer:

- the token is known by its shape, `sk-ant-<kind><version>-` then its body (`sk-ant-oat01-`
  today; a new kind or version is still a token): that prefix is public, its bytes go to the
  screen as they are matched, so a pause inside it shows nothing secret and holds nothing back;
- once the prefix is complete, the body is never shown: it is held until the token ends, then
  replaced by `********` (the colour codes seen inside it follow the mask, so the screen's
  colours stay as the program meant them);
- escape sequences inside a token are skipped, not taken as its end: CSI (colours, cursor
  moves), and the others of ESC, intermediates, final (a character set, ESC ( B; ESC 7);
- a line break inside a token is a wrap, not its end, when the line filled the terminal's
  width and the next line goes on with token characters (after the line's indentation);
- a line break before the width is the token's end, unless the next line is nothing but token
  characters: that may be a wrap at a width we do not know, so it is masked too and the token
  is marked unsure. What is stored is the whole token or nothing.

The masking and the token read are one parse, so what is hidden is exactly what is stored.
"""

from __future__ import annotations

# The prefix of the setup tokens Claude Code prints today, and how such a token is shown.
PREFIX = b"sk-ant-oat01-"
STARS = b"********"
MASK = PREFIX + STARS
# Any token's prefix: this, a kind in lowercase letters, a version in digits, then "-".
_LEAD = b"sk-ant-"
_MAX_KIND = 8
_MAX_VERSION = 4
_LOWER = b"abcdefghijklmnopqrstuvwxyz"

ESC, CR, LF, SPACE = 0x1B, 0x0D, 0x0A, 0x20
_TOKEN_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_BREAKS = (CR, LF)
# A CSI longer than this is not one a terminal would act on: its bytes are ordinary text.
_MAX_CSI = 64
# ESC ] (OSC), P (DCS), X (SOS), ^ (PM), _ (APC): strings, whose text is matched as text;
# ESC \\ ends one (and so ends a token in it).
_STRINGS = frozenset(b"]PX^_\\")


class Masker:
    """Feed it the program's output; it returns what may be shown and collects the tokens."""

    def __init__(self, width: int | None = None) -> None:
        # The terminal's columns (None: unknown, so no line counts as filled).
        self.width = width
        # Every token read, whole (prefix included, escape codes and wraps removed).
        self.tokens: list[bytes] = []
        # A token was printed in a shape that leaves its end in doubt.
        self.unsure = False
        self._pre = bytearray()  # the token prefix matched so far
        self._inside = False  # the prefix is whole: inside the body
        self._body = bytearray()
        self._codes: list[bytes] = []  # escape sequences seen inside the body
        self._prefix_wrap: _Wrap | None = None  # a line break inside the prefix
        self._wrap: _Wrap | None = None  # a line break inside the body, not yet decided
        self._esc = bytearray()  # an escape sequence still arriving
        self._col = 0  # the column the program's output is at
        self._indent = 0  # leading spaces of the current line
        self._at_start = True  # nothing but spaces on the current line yet
        self._token_indent = 0  # leading spaces of the line the token started on
        self._out = bytearray()

    @property
    def holding(self) -> bool:
        """Bytes are held back: they may be part of a token, so no pause releases them."""
        return bool(self._esc) or self._inside

    def feed(self, data: bytes) -> bytes:
        for b in data:
            self._byte(b)
        return self._take()

    def flush(self) -> bytes:
        """The output has ended: a held body is a whole token now, shown as its mask."""
        self._esc_as_text()
        wrap = self._wrap
        if wrap is not None and wrap.run:
            self._join_run()  # a last line of nothing but token characters
        elif wrap is not None:
            self._release(wrap, b"")
        self._end_token()
        self._prefix_wrap = None
        self._pre.clear()
        return self._take()

    # -- escape sequences
    def _byte(self, b: int) -> None:
        esc = self._esc
        if not esc:
            if b == ESC:
                esc.append(b)
            else:
                self._ordinary(b)
            return
        esc.append(b)
        csi = esc[1] == ord("[")
        if len(esc) == 2 and csi:
            return  # the parameters follow
        if len(esc) == 2 and b in _STRINGS:
            self._esc_as_text()  # OSC, DCS...: ordinary bytes (an OSC's text is matched too)
        elif (csi and 0x40 <= b <= 0x7E) or (not csi and 0x30 <= b <= 0x7E):
            seq = bytes(esc)
            esc.clear()
            self._sequence(seq)
        elif len(esc) > _MAX_CSI or not (csi or 0x20 <= b <= 0x2F):
            self._esc_as_text()
        # else: a CSI's parameter, or an intermediate (the "(" of ESC ( B): more to come

    def _esc_as_text(self) -> None:
        pending = bytes(self._esc)
        self._esc.clear()
        for b in pending:
            self._ordinary(b)

    def _sequence(self, seq: bytes) -> None:
        if not self._inside:
            self._out += seq  # outside a token body (in its public prefix at most)
        elif self._wrap is not None:
            self._wrap.held.append(seq)
        else:
            self._codes.append(seq)

    # -- text
    def _ordinary(self, b: int) -> None:
        before = (self._col, self._indent, self._at_start)
        self._track(b)
        if not self._inside:
            self._prefix(b, before)
        else:
            self._in_body(b, before)

    def _track(self, b: int) -> None:
        """Follow the column the program's output is at, as a terminal would."""
        if b in _BREAKS:
            self._col, self._indent, self._at_start = 0, 0, True
        elif b == 0x08:
            self._col = max(0, self._col - 1)
        elif b < SPACE or b == 0x7F or 0x80 <= b <= 0xBF:
            pass  # other controls and UTF-8 continuation bytes take no column
        else:
            # A terminal wraps by itself once a line is full.
            self._col = 1 if self.width and self._col >= self.width else self._col + 1
            if b == SPACE and self._at_start:
                self._indent += 1
            else:
                self._at_start = False

    def _filled(self, col: int) -> bool:
        return self.width is not None and col >= self.width

    def _prefix(self, b: int, before: tuple[int, int, bool]) -> None:
        self._out.append(b)  # the prefix and everything outside a token is public
        wrap = self._prefix_wrap
        if wrap is not None:
            if wrap.skips(b, self._token_indent):
                return
            self._prefix_wrap = None
        elif b in _BREAKS and self._pre:
            if self._filled(before[0]):
                self._prefix_wrap = _Wrap(filled=True, before=before)
                self._prefix_wrap.skips(b, 0)
                return
            self._pre.clear()
        pre = self._pre
        # The longest end of what was matched that B continues (a false start may overlap a
        # real prefix: "sk-ant-sk-ant-oat01-").
        for start in range(len(pre) + 1):
            whole = _prefix_state(bytes(pre[start:]) + bytes([b]))
            if whole is not None:
                if not pre[start:]:
                    self._token_indent = before[1]
                del pre[:start]
                pre.append(b)
                self._inside = whole
                return
        pre.clear()

    def _in_body(self, b: int, before: tuple[int, int, bool]) -> None:
        wrap = self._wrap
        if wrap is None:
            if b in _TOKEN_CHARS:
                self._body.append(b)
            elif b in _BREAKS:
                self._wrap = _Wrap(filled=self._filled(before[0]), before=before)
                self._wrap.skips(b, 0)
                self._wrap.held.append(bytes([b]))
            else:
                self._end_token()
                self._prefix(b, before)
            return
        if b in _TOKEN_CHARS:
            if wrap.filled and not wrap.run:
                self._continue()  # the line was full: a wrap, the token goes on
                self._body.append(b)
            else:
                wrap.run.append(b)
                wrap.held.append(bytes([b]))
            return
        if not wrap.run and wrap.skips(b, self._token_indent):
            wrap.held.append(bytes([b]))
            return
        if wrap.run and b in _BREAKS:
            # A whole line of token characters after an early break: maybe a wrap at a width
            # we do not know. Masked with the token, which is then not trusted.
            self._join_run()
            self._in_body(b, before)
            return
        self._release(wrap, bytes([b]))

    def _release(self, wrap: _Wrap, extra: bytes) -> None:
        """Not a wrap after all: the token ended at the line break, and what was held since is
        text again, parsed once more (it may start another token) from the break's column."""
        self._wrap = None
        self._end_token()
        self._col, self._indent, self._at_start = wrap.before
        for b in b"".join(wrap.held):
            self._byte(b)  # whole escape sequences and text
        for b in extra:
            self._ordinary(b)  # already known not to start an escape sequence

    def _continue(self) -> None:
        """The line break was a wrap: the token goes on; its codes follow the mask."""
        assert self._wrap is not None
        self._codes += [h for h in self._wrap.held if h[0] == ESC]
        self._wrap = None

    def _join_run(self) -> None:
        assert self._wrap is not None
        self._body += self._wrap.run
        self.unsure = True
        self._continue()

    def _end_token(self) -> None:
        if not self._inside:
            return
        if self._body:
            self._out += STARS
            self.tokens.append(bytes(self._pre) + bytes(self._body))
        self._out += b"".join(self._codes)
        self._pre.clear()
        self._inside = False
        self._body = bytearray()
        self._codes = []

    def _take(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out


def _prefix_state(seq: bytes) -> bool | None:
    """True: SEQ is a whole token prefix (sk-ant-oat01-); False: the start of one; None: not."""
    if len(seq) <= len(_LEAD):
        return False if _LEAD.startswith(seq) else None
    if not seq.startswith(_LEAD):
        return None
    rest = seq[len(_LEAD) :]
    ended = rest.endswith(b"-")
    kind = rest[:-1] if ended else rest
    version = kind.lstrip(_LOWER)  # the letters first, then the digits
    letters = len(kind) - len(version)
    if letters > _MAX_KIND or len(version) > _MAX_VERSION or not (version.isdigit() or not version):
        return None
    if version and not letters:
        return None
    if ended:
        return True if version else None
    return False


class _Wrap:
    """What follows a line break inside a possible token, until it is known to go on or not."""

    __slots__ = ("before", "filled", "held", "lf", "run", "spaces")

    def __init__(self, *, filled: bool, before: tuple[int, int, bool]) -> None:
        self.filled = filled
        self.before = before  # the column state just before the break
        self.held: list[bytes] = []  # bytes (and escape sequences) since the break
        self.run = bytearray()  # token characters on the next line (after an early break)
        self.lf = False
        self.spaces = 0

    def skips(self, b: int, indent: int) -> bool:
        """The break itself (CR, one LF) and the next line's indentation belong to the wrap."""
        if b == CR and not self.spaces:
            return True
        if b == LF and not self.lf and not self.spaces:
            self.lf = True
            return True
        if b == SPACE and self.spaces < indent:
            self.spaces += 1
            return True
        return False
