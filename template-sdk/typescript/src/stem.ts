// Safe stems for output names: what `Input.stem` holds.
//
// An upload may be called anything: `50% off.mp4`, `concat:x.mp4`, `a\tb.mp4`, `../x.mp4`,
// `-rf.mp4`, `日本語.mov`. Its basename is not fit for an output name: ffmpeg reads `%` as an
// image-sequence pattern and `proto:` as a protocol, and the host refuses most other odd
// characters. The stem is the basename made safe, the same way in the Rust, TypeScript and
// Python SDKs (`template-sdk/src/stem_cases.json` holds the cases all three are tested on, see
// `stem.test.mjs`):
//
// 1. Letters, digits, `.` and `-` are kept. Latin letters with accents (U+00C0–U+017F) become
//    their plain letters (`é` → `e`, `ß` → `ss`, `Ø` → `O`, `æ` → `ae`); combining accents
//    (U+0300–U+036F, as in decomposed names from macOS) are dropped.
// 2. Anything else (`_`, spaces, `%`, `:`, `/`, `\`, control characters, `*?[]{}`, other
//    scripts, emoji…) is a separator; each run of separators becomes one `_`.
// 3. `.`, `-` and `_` are trimmed from both ends: no hidden files, nothing read as an option.
// 4. A stem longer than `STEM_MAX` bytes keeps its first 55 bytes (trimmed again) and gets `-`
//    and 8 hex digits of the name's FNV-1a hash, so long names that share a beginning still differ.
// 5. A stem left empty is `file`, or `file-` and the hash when the name was not empty.
//
// This module imports nothing, so it runs outside a component too.

/** The longest stem, in bytes (all of them ASCII). */
export const STEM_MAX = 64;

/** How many bytes of a long stem are kept before the `-` and the 8 hex digits of the hash. */
const LONG_KEEP = STEM_MAX - 9;

/** Plain letters for U+00C0–U+017F; `_` where there is none (`×`, `÷`). */
const LATIN = (
  'A A A A A A AE C E E E E I I I I D N O O O O O _ O U U U U Y TH ss ' +
  'a a a a a a ae c e e e e i i i i d n o o o o o _ o u u u u y th y ' +
  'A a A a A a C c C c C c C c D d D d E e E e E e E e E e G g G g G g G g H h H h ' +
  'I i I i I i I i I i IJ ij J j K k k L l L l L l L l L l N n N n N n n N n ' +
  'O o O o O o OE oe R r R r R r S s S s S s S s T t T t T t U u U u U u U u U u U u ' +
  'W w Y y Y Z z Z z Z z s'
).split(' ');

const KEPT = /^[A-Za-z0-9.-]$/;
const EDGES = /^[._-]+|[._-]+$/g;

/**
 * The stem for output names made from `name` (usually an input's basename): ASCII letters,
 * digits, `.`, `-` and `_` only, at most `STEM_MAX` bytes, never empty, never starting with `.`
 * or `-`. `safeStem('50% off') === '50_off'`, `safeStem('concat:x') === 'concat_x'`.
 */
export function safeStem(name: string): string {
  let stem = '';
  let separator = false;
  for (const c of name) {
    const code = c.codePointAt(0)!;
    let plain: string;
    if (KEPT.test(c)) {
      plain = c;
    } else if (code >= 0x300 && code <= 0x36f) {
      continue;
    } else if (code >= 0xc0 && code <= 0x17f && LATIN[code - 0xc0] !== '_') {
      plain = LATIN[code - 0xc0]!;
    } else {
      separator = true;
      continue;
    }
    if (separator && stem !== '') stem += '_';
    separator = false;
    stem += plain;
  }
  stem = stem.replace(EDGES, '');
  if (stem === '') return name === '' ? 'file' : `file-${hex(fnv1a(name))}`;
  if (stem.length > STEM_MAX) return `${stem.slice(0, LONG_KEEP).replace(EDGES, '')}-${hex(fnv1a(name))}`;
  return stem;
}

function hex(value: number): string {
  return value.toString(16).padStart(8, '0');
}

/** 32-bit FNV-1a of the UTF-8 bytes of `name`. */
function fnv1a(name: string): number {
  let hash = 0x811c9dc5;
  const byte = (b: number) => {
    hash = Math.imul(hash ^ b, 0x01000193) >>> 0;
  };
  for (const c of name) {
    const code = c.codePointAt(0)!;
    if (code < 0x80) {
      byte(code);
    } else if (code < 0x800) {
      byte(0xc0 | (code >> 6));
      byte(0x80 | (code & 0x3f));
    } else if (code < 0x10000) {
      byte(0xe0 | (code >> 12));
      byte(0x80 | ((code >> 6) & 0x3f));
      byte(0x80 | (code & 0x3f));
    } else {
      byte(0xf0 | (code >> 18));
      byte(0x80 | ((code >> 12) & 0x3f));
      byte(0x80 | ((code >> 6) & 0x3f));
      byte(0x80 | (code & 0x3f));
    }
  }
  return hash;
}
