"""`vpclab assign OUT_DIR`: the student edition of the reference notebooks.

nbgrader's own preprocessors do the work: `ClearSolutions` replaces each
`### BEGIN SOLUTION` / `### END SOLUTION` region with `# YOUR CODE HERE` and
`raise NotImplementedError()`, and `ClearOutput` drops every output and execution count.
Cells without a region (the explanations, the "look at the result" cells, the checkpoint)
are kept as they are. The handout mirrors the repository's layout (`lab.toml` and the
`Jenkinsfile`, which 08 reads, beside a `notebooks/` folder), so the notebooks'
`Lab("../lab.toml")` finds the spec; a README tells the student what to do and hand in.
The project files with blanks (`vpclab.blanks.FILES`: the Nginx site, start_app.sh, ...)
go there too, at their paths in the project, each region cleared to one stub line: the lab
the handout's notebooks drive reads them from there.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat

from vpclab import blanks
from vpclab.errors import UsageError

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
STUB = "# YOUR CODE HERE\nraise NotImplementedError()"


def _preprocessors() -> list:
    try:
        from nbgrader.preprocessors import ClearOutput, ClearSolutions
    except ImportError:
        raise UsageError(
            "nbgrader is not installed", "pip install 'vpclab[course]' (or the dev extras)"
        ) from None
    # Our notebooks mark regions in the source only, not with nbgrader's cell metadata.
    return [ClearSolutions(enforce_metadata=False, code_stub={"python": STUB}), ClearOutput()]


def student_notebook(nb: nbformat.NotebookNode, preprocessors: list) -> nbformat.NotebookNode:
    """One notebook's student edition (a new object; `nb` is left alone)."""
    edition = nbformat.from_dict(nb)
    resources: dict = {}
    for pre in preprocessors:
        edition, resources = pre.preprocess(edition, resources)
    for cell in edition.cells:
        cell.metadata.pop("execution", None)
    # The reference is paired with its jupytext source; the edition has none, and a save in
    # the student's JupyterLab must not write one beside it.
    edition.metadata.pop("jupytext", None)
    return edition


def has_solution(nb: nbformat.NotebookNode) -> bool:
    return any(BEGIN in cell.source or END in cell.source for cell in nb.cells)


# Files beside the spec that the notebooks read, copied as they are (those with blanks,
# the Jenkinsfile among them, are written cleared by `blanks.write_edition`).
PROJECT_FILES = tuple(n for n in ("Jenkinsfile",) if n not in blanks.BY_PATH)
STUDENT_README = """# vpclab: your handout

1. Open this folder's `notebooks/` in JupyterLab: from the vpclab checkout, run
   `make jupyter NOTEBOOKS=<this folder>/notebooks` (as root on Linux, so the lab's hosts
   run), or `jupyter lab notebooks/` here in an environment with vpclab installed. Work
   through the notebooks in order, 00 to 09, then write your report in 11_report while the
   lab still runs, and tear it down last with 10_teardown. (A plain `make jupyter` opens
   the kit's own notebooks, which hold the solutions.)
2. Write your code where a cell says `# YOUR CODE HERE` (delete the
   `raise NotImplementedError()` under it). Leave the last cell of each notebook, the
   checkpoint, as it is: it prints the step's checklist. From 05 on, some blanks are in
   the project's real files here (the Nginx site, `scripts/start_app.sh`, the
   `Jenkinsfile`, ...): replace their `YOUR CODE HERE:` line with your own lines; the
   notebook says what goes there, and the lab runs your file.
3. Stuck? `lab.catch_up("<step>")` builds a step for you so you can go on; a step built by
   the library (catch_up, `lab.up`, `vpclab up`) works but earns no credit.
4. Hand in this whole folder (the `.ipynb` files saved, and the files you filled in),
   zipped or as a folder, the way your instructor asks, but without `.vpclab/`: that is the
   lab's state (its keys, and the copy of the project the lab serves your files from).
"""


def assign(notebooks: Path, spec: Path, out_dir: Path) -> list[Path]:
    """Write the handout: the student edition of every `NN_name.ipynb` in `notebooks` into
    `out_dir/notebooks/`, the spec as `out_dir/lab.toml`, the project files the notebooks
    read and a README. Returns the notebooks written."""
    sources = sorted(notebooks.glob("[0-9][0-9]_*.ipynb"))
    if not sources:
        raise UsageError(
            f"no notebooks in {notebooks.resolve()}",
            "run it from the kit's folder, or pass --notebooks with the NN_*.ipynb",
        )
    if not spec.is_file():
        raise UsageError(f"{spec} does not exist", "pass --spec with the lab's lab.toml")
    needed = [*PROJECT_FILES, *(b.path for b in blanks.FILES)]
    missing = [name for name in needed if not (spec.parent / name).is_file()]
    if missing:
        raise UsageError(
            f"{', '.join(missing)} is not beside {spec}: the notebooks read it",
            "run vpclab assign from the vpclab checkout (or pass --spec there)",
        )
    preprocessors = _preprocessors()
    target = out_dir / "notebooks"
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(spec, out_dir / "lab.toml")
    for name in PROJECT_FILES:
        shutil.copyfile(spec.parent / name, out_dir / name)
    blanks.write_edition(spec.parent, out_dir)
    (out_dir / "README.md").write_text(STUDENT_README)
    written = []
    for source in sources:
        edition = student_notebook(nbformat.read(source, as_version=4), preprocessors)
        if has_solution(edition):
            raise UsageError(
                f"{source.name}: a solution marker is left after clearing",
                f"put each '{BEGIN}' and '{END}' on its own line, in pairs, in code cells",
            )
        nbformat.validate(edition)
        path = target / source.name
        nbformat.write(edition, path)
        written.append(path)
    return written
