"""Figure 1 of the paper (§4): ``python benchmarks/paper/figure1.py [options]``.

A shortcut for ``python benchmarks/paper/run.py figure1 [options]``; see ``run.py --help``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import main  # noqa: E402

if __name__ == "__main__":
    main(["figure1", *sys.argv[1:]])
