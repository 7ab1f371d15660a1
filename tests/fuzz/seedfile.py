# SPDX-License-Identifier: GPL-2.0-only
"""What the gen_*_corpus.py scripts share: writing their seeds out."""
import os
import sys


def write_seeds(kind, seeds):
    """Writes each (name, bytes) of seeds to a file of that name, in the
    directory given as the first argument, by default corpus/<kind>/."""
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), 'corpus', kind)
    os.makedirs(out, exist_ok=True)
    for name, data in seeds:
        with open(os.path.join(out, name), 'wb') as f:
            f.write(data)
