"""Safe stems for output names: what ``Input.stem`` holds.

An upload may be called anything: ``50% off.mp4``, ``concat:x.mp4``, ``a\\tb.mp4``,
``../x.mp4``, ``-rf.mp4``, ``日本語.mov``. Its basename is not fit for an output name: ffmpeg
reads ``%`` as an image-sequence pattern and ``proto:`` as a protocol, and the host refuses most
other odd characters. The stem is the basename made safe, the same way in the Rust, TypeScript
and Python SDKs (``template-sdk/src/stem_cases.json`` holds the cases all three are tested on):

1. Letters, digits, ``.`` and ``-`` are kept. Latin letters with accents (U+00C0–U+017F) become
   their plain letters (``é`` → ``e``, ``ß`` → ``ss``, ``Ø`` → ``O``, ``æ`` → ``ae``); combining
   accents (U+0300–U+036F, as in decomposed names from macOS) are dropped.
2. Anything else (``_``, spaces, ``%``, ``:``, ``/``, ``\\``, control characters, ``*?[]{}``,
   other scripts, emoji…) is a separator; each run of separators becomes one ``_``.
3. ``.``, ``-`` and ``_`` are trimmed from both ends: no hidden files, nothing read as an option.
4. A stem longer than ``STEM_MAX`` bytes keeps its first 55 bytes (trimmed again) and gets ``-``
   and 8 hex digits of the name's FNV-1a hash, so long names that share a beginning still differ.
5. A stem left empty is ``file``, or ``file-`` and the hash when the name was not empty.

So ``50% off`` → ``50_off``, ``concat:x`` → ``concat_x``, ``vidéo 1`` → ``video_1``,
``a\\tb`` → ``a_b``. This module imports nothing, so it runs outside a component too.
"""

#: The longest stem, in bytes (all of them ASCII).
STEM_MAX = 64

# How many bytes of a long stem are kept before the `-` and the 8 hex digits of the hash.
_LONG_KEEP = STEM_MAX - 9

# Plain letters for U+00C0–U+017F; `_` where there is none (`×`, `÷`).
_LATIN = (
    "A A A A A A AE C E E E E I I I I D N O O O O O _ O U U U U Y TH ss "
    "a a a a a a ae c e e e e i i i i d n o o o o o _ o u u u u y th y "
    "A a A a A a C c C c C c C c D d D d E e E e E e E e E e G g G g G g G g H h H h "
    "I i I i I i I i I i IJ ij J j K k k L l L l L l L l L l N n N n N n n N n "
    "O o O o O o OE oe R r R r R r S s S s S s S s T t T t T t U u U u U u U u U u U u "
    "W w Y y Y Z z Z z Z z s"
).split(" ")

_KEPT = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-")


def safe_stem(name: str) -> str:
    """The stem for output names made from ``name`` (usually an input's basename): ASCII
    letters, digits, ``.``, ``-`` and ``_`` only, at most ``STEM_MAX`` bytes, never empty, never
    starting with ``.`` or ``-``. ``safe_stem("50% off") == "50_off"``."""
    parts: list[str] = []
    separator = False
    for c in name:
        code = ord(c)
        if c in _KEPT:
            plain = c
        elif 0x300 <= code <= 0x36F:
            continue
        elif 0xC0 <= code <= 0x17F and _LATIN[code - 0xC0] != "_":
            plain = _LATIN[code - 0xC0]
        else:
            separator = True
            continue
        if separator and parts:
            parts.append("_")
        separator = False
        parts.append(plain)
    stem = "".join(parts).strip("._-")
    if not stem:
        return f"file-{_fnv1a(name):08x}" if name else "file"
    if len(stem) > STEM_MAX:
        return f"{stem[:_LONG_KEEP].rstrip('._-')}-{_fnv1a(name):08x}"
    return stem


def _fnv1a(name: str) -> int:
    """32-bit FNV-1a of the UTF-8 bytes of ``name``."""
    hash = 0x811C9DC5
    for byte in name.encode("utf-8", "surrogatepass"):
        hash = ((hash ^ byte) * 0x01000193) & 0xFFFFFFFF
    return hash
