"""``python -m examples NAME``: run ``examples/NAME.py`` as if it were run directly."""

import runpy
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
NAMES = sorted(path.stem for path in HERE.glob("*.py") if not path.stem.startswith("_"))


def main(arguments: list[str]) -> None:
    if len(arguments) != 1 or arguments[0] not in NAMES:
        raise SystemExit(f"usage: python -m examples NAME\nNAME is one of: {', '.join(NAMES)}")
    runpy.run_path(str(HERE / f"{arguments[0]}.py"), run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])
