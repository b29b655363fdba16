"""``safe_stem`` against the cases the Rust and TypeScript SDKs are tested on too
(``template-sdk/src/stem_cases.json``). Run: ``python3 template-sdk/python/transflow_sdk/test_stem.py``.

It imports ``stem`` on its own: the package itself needs the bindings componentize-py generates.
"""

import json
import re
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stem import STEM_MAX, safe_stem  # noqa: E402

CASES = json.loads((Path(__file__).resolve().parents[2] / "src" / "stem_cases.json").read_text("utf-8"))
SAFE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")


class SafeStem(unittest.TestCase):
    def test_every_shared_case_gives_its_stem(self) -> None:
        self.assertGreaterEqual(len(CASES), 30)
        for name, expected in CASES:
            with self.subTest(name=name):
                self.assertEqual(safe_stem(name), expected)

    def test_stems_are_safe_short_stable_and_idempotent(self) -> None:
        for name, _ in CASES:
            stem = safe_stem(name)
            with self.subTest(name=name, stem=stem):
                self.assertTrue(0 < len(stem.encode()) <= STEM_MAX)
                self.assertIsNotNone(SAFE.fullmatch(stem))
                self.assertEqual(safe_stem(name), stem)
                self.assertEqual(safe_stem(stem), stem)


if __name__ == "__main__":
    unittest.main()
