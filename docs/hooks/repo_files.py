"""Files outside docs/ that the site shows, in place: reports/ (the attention study, every figure) and configs/.

Each file keeps its path relative to docs/ as its source name (`../reports/figures/x.png`), so the
links a page writes for GitHub (`../reports/figures/x.png` from docs/, `../../reports/...` from
docs/commands/) are the links MkDocs resolves and checks; the site serves the files at `reports/...`.
Nothing is copied into docs/. The inclusion is set here because MkDocs excludes every path with a
component starting with a dot, `..` included.
"""

from __future__ import annotations

import os
from pathlib import Path

MOUNTED = ("reports", "configs")
SUFFIXES = {".md", ".png", ".svg", ".yaml"}


def on_files(files, config):
    from mkdocs.structure.files import File, InclusionLevel

    root = Path(config.config_file_path).parent
    for folder in MOUNTED:
        for path in sorted((root / folder).rglob("*")):
            if not path.is_file() or path.suffix not in SUFFIXES:
                continue
            site_path = path.relative_to(root).as_posix()
            dest_uri = File(site_path, src_dir=str(root), dest_dir=config.site_dir,
                            use_directory_urls=config.use_directory_urls).dest_uri
            files.append(File(Path(os.path.relpath(path, config.docs_dir)).as_posix(), src_dir=config.docs_dir,
                              dest_dir=config.site_dir, use_directory_urls=config.use_directory_urls,
                              dest_uri=dest_uri, inclusion=InclusionLevel.INCLUDED))
    return files
