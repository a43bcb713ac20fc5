"""Vietnamese Telex input for the on-screen keyboard, written from the published Telex rules.

Telex types Vietnamese with plain Latin keys: a letter doubled or followed by ``w`` gets its
diacritic (aa -> â, aw -> ă, ee -> ê, oo -> ô, ow -> ơ, uw -> ư, dd -> đ), and one of the tone keys
s f r x j puts the tone on the syllable (sắc, huyền, hỏi, ngã, nặng; z removes it).  Typing the
same modifier again undoes it and gives the letter itself ("ass" -> "as", "aaa" -> "aa"), so
every word can still be typed.

The tone goes on the vowel Vietnamese orthography puts it on (rules as in the Ministry of
Education's spelling rules, Quyết định 240/QĐ, 1984, "old style" placement used on civil
documents — hóa, thúy, của):

1. a vowel carrying a shape mark (â ă ê ô ơ ư) takes the tone; in ươ it is the ơ;
2. otherwise, with a final consonant, the last vowel (toán, hoàng);
3. otherwise, of three vowels the middle one (khoái), of two the first (hóa, múa), else the only one.
The u of "qu" and the i of "gi" before another vowel belong to the consonant (quá, giá).

The composer works one word at a time: :func:`type_key` takes the word typed so far and one key
and returns the new word; :func:`telex` folds a whole keystroke string (for tests and paste).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, replace

VOWELS = "aeiouy"
TONE_KEYS = {"s": "\u0301", "f": "\u0300", "r": "\u0309", "x": "\u0303", "j": "\u0323"}
"""Telex tone keys -> combining marks: acute (sắc), grave (huyền), hook (hỏi), tilde (ngã), dot below (nặng)."""
CIRCUMFLEX, BREVE, HORN = "\u0302", "\u0306", "\u031b"
_SHAPES = (CIRCUMFLEX, BREVE, HORN)
_MARKS = set(_SHAPES) | set(TONE_KEYS.values())
_DOUBLING = {"a": CIRCUMFLEX, "e": CIRCUMFLEX, "o": CIRCUMFLEX}
_W_SHAPE = {"a": BREVE, "o": HORN, "u": HORN}


@dataclass(frozen=True)
class _Letter:
    base: str
    """Lower-case ASCII letter (``đ`` is ``d`` with ``stroke``)."""
    shape: str = ""
    stroke: bool = False
    upper: bool = False

    @property
    def vowel(self) -> bool:
        return self.base in VOWELS

    def render(self, tone: str = "") -> str:
        if self.stroke:
            text = "đ"
        else:
            text = unicodedata.normalize("NFC", self.base + self.shape + tone)
        return text.upper() if self.upper else text


@dataclass(frozen=True)
class _Word:
    letters: tuple[_Letter, ...]
    tone: str = ""

    def render(self) -> str:
        position = _tone_position(self.letters) if self.tone else None
        return "".join(letter.render(self.tone if i == position else "") for i, letter in enumerate(self.letters))


def telex(keys: str) -> str:
    """The text produced by typing ``keys`` (spaces and punctuation end words)."""
    out: list[str] = []
    word = ""
    for key in keys:
        if key.isalpha():
            word = type_key(word, key)
        else:
            out.append(word + key)
            word = ""
    return "".join(out) + word


def type_key(word: str, key: str) -> str:
    """The word after typing ``key`` at its end."""
    parsed = _parse(word)
    if parsed is None:  # not a word Telex understands (digits, foreign letters): type the key as is
        return word + key
    lower = key.lower()
    upper = key != lower
    result = (
        _tone(parsed, lower, upper) if lower in TONE_KEYS or lower == "z" else
        _shape(parsed, lower, upper) if lower in _DOUBLING or lower == "w" else
        _stroke(parsed, upper) if lower == "d" else
        None
    )
    if result is None:
        result = replace(parsed, letters=(*parsed.letters, _Letter(lower, upper=upper)))
    return result.render()


def _parse(word: str) -> _Word | None:
    letters: list[_Letter] = []
    tone = ""
    for char in word:
        if char in "đĐ":
            letters.append(_Letter("d", stroke=True, upper=char == "Đ"))
            continue
        decomposed = unicodedata.normalize("NFD", char)
        base, marks = decomposed[0], decomposed[1:]
        if not base.isascii() or not base.isalpha() or any(m not in _MARKS for m in marks):
            return None
        shape = "".join(m for m in marks if m in _SHAPES)
        tone = next((m for m in marks if m in TONE_KEYS.values()), tone)
        letters.append(_Letter(base.lower(), shape, upper=base.isupper()))
    return _Word(tuple(letters), tone)


def _tone(word: _Word, key: str, upper: bool) -> _Word | None:
    if not any(letter.vowel for letter in word.letters):
        return None
    if key == "z":
        return replace(word, tone="") if word.tone else None
    mark = TONE_KEYS[key]
    if word.tone == mark:  # the tone key again: undo the tone, type the letter
        return _Word((*word.letters, _Letter(key, upper=upper)))
    return replace(word, tone=mark)


def _shape(word: _Word, key: str, upper: bool) -> _Word | None:
    letters = list(word.letters)
    vowels = _vowel_indices(letters)
    if key == "w":
        # uo + w -> ươ (người, được): both take the horn together.
        pair = [i for i in vowels if letters[i].base in "uo"]
        if len(pair) >= 2 and letters[pair[-2]].base == "u" and letters[pair[-1]].base == "o":
            targets = pair[-2:]
        else:
            targets = [i for i in vowels if letters[i].base in _W_SHAPE][-1:]
        if not targets:
            return None
        if all(letters[i].shape == _W_SHAPE[letters[i].base] for i in targets):  # w again: undo, type w
            for i in targets:
                letters[i] = replace(letters[i], shape="")
            return _Word((*letters, _Letter("w", upper=upper)), word.tone)
        for i in targets:
            letters[i] = replace(letters[i], shape=_W_SHAPE[letters[i].base])
        return _Word(tuple(letters), word.tone)
    same = [i for i in vowels if letters[i].base == key]
    if not same:
        return None
    target = same[-1]
    if letters[target].shape == _DOUBLING[key]:  # aaa -> aa
        letters[target] = replace(letters[target], shape="")
        return _Word((*letters, _Letter(key, upper=upper)), word.tone)
    letters[target] = replace(letters[target], shape=_DOUBLING[key])
    return _Word(tuple(letters), word.tone)


def _stroke(word: _Word, upper: bool) -> _Word | None:
    if not word.letters or word.letters[0].base != "d":
        return None
    first = word.letters[0]
    if first.stroke:  # ddd -> dd
        return _Word((replace(first, stroke=False), *word.letters[1:], _Letter("d", upper=upper)), word.tone)
    return _Word((replace(first, stroke=True), *word.letters[1:]), word.tone)


def _vowel_indices(letters: list[_Letter] | tuple[_Letter, ...]) -> list[int]:
    """Indices of the syllable's vowels, leaving out the u of "qu" and the i of "gi" + vowel."""
    indices = [i for i, letter in enumerate(letters) if letter.vowel]
    text = "".join(letter.base for letter in letters[:3])
    if text.startswith("qu") and 1 in indices:
        indices.remove(1)
    elif text.startswith("gi") and 1 in indices and len(indices) > 1 and indices[1] == 2:
        indices.remove(1)
    # Only the first run of vowels is the syllable's nucleus.
    run = indices[:1]
    for i in indices[1:]:
        if i != run[-1] + 1:
            break
        run.append(i)
    return run


def _tone_position(letters: tuple[_Letter, ...]) -> int | None:
    vowels = _vowel_indices(letters)
    if not vowels:
        return None
    shaped = [i for i in vowels if letters[i].shape]
    if shaped:
        return shaped[-1]  # ươ: the horned o is the last shaped vowel
    if vowels[-1] < len(letters) - 1:  # a final consonant follows
        return vowels[-1]
    if len(vowels) == 3:
        return vowels[1]
    return vowels[0]
