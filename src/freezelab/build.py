"""Generate the learner notebooks (``notebooks/``) from the masters (``solutions/``) with nbgrader.

``solutions/`` is the single source of truth. ``python -m freezelab.build generate`` runs the
real ``nbgrader generate_assignment`` for every assignment (what counts as one is decided by
:func:`freezelab.grading.course.assignment_names`, for the grading as well) into a scratch release folder,
then copies the result into ``notebooks/``. ``check`` does the same generation and reports every
file that differs, so a stale or hand-edited learner copy fails the tests.

A learner's own edits are never overwritten: ``notebooks/.generated.json`` records the hash of
every file as generated, and a file whose current hash differs from that record has been edited
since; ``generate`` refuses to replace it unless ``--force`` is given, and then keeps a backup.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from freezelab.grading.course import Course, assignment_names
from freezelab.paths import NOTEBOOKS_DIR, SOLUTIONS_DIR

MANIFEST_NAME = ".generated.json"


@dataclass(frozen=True)
class Difference:
    """One file whose committed learner copy differs from what nbgrader generates now."""

    path: str
    reason: str


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def generate_release(destination: Path, solutions_dir: Path = SOLUTIONS_DIR) -> dict[str, str]:
    """Run ``nbgrader generate_assignment`` for every assignment of ``solutions_dir`` into ``destination``.

    nbgrader runs the way the grading runs it (:meth:`Course.nbgrader`), on a scratch state folder:
    generation touches no gradebook (``--no-db``), and even nbgrader's log stays out of the class.
    Returns the manifest: relative path (``assignment/file``) to SHA-256 of the generated file.
    """
    with tempfile.TemporaryDirectory(prefix="freezelab-build-state-") as state:
        course = Course(Path(state), solutions_dir)
        for name in assignment_names(solutions_dir):
            course.nbgrader("generate_assignment", name, "--force", "--no-db")
        if course.release_dir.is_dir():
            shutil.copytree(course.release_dir, destination, dirs_exist_ok=True)
    manifest = {}
    for path in sorted(destination.rglob("*")):
        if path.is_file():
            manifest[path.relative_to(destination).as_posix()] = _sha256(path)
    return manifest


def compare(generated: Path, manifest: dict[str, str], target: Path = NOTEBOOKS_DIR) -> list[Difference]:
    """Every difference between a fresh generation and the committed ``notebooks/``."""
    differences = []
    for relative, digest in manifest.items():
        existing = target / relative
        if not existing.exists():
            differences.append(Difference(relative, "missing from notebooks/"))
        elif _sha256(existing) != digest:
            differences.append(Difference(relative, "differs from what nbgrader generates now"))
    generated_assignments = {relative.split("/", 1)[0] for relative in manifest}
    for path in sorted(target.rglob("*")):
        if not path.is_file() or path.name == MANIFEST_NAME:
            continue
        relative = path.relative_to(target).as_posix()
        if relative.split("/", 1)[0] in generated_assignments and relative not in manifest:
            if ".ipynb_checkpoints" in relative or "__pycache__" in relative:
                continue
            differences.append(Difference(relative, "not produced by nbgrader (stale?)"))
    recorded = target / MANIFEST_NAME
    if not recorded.exists() or json.loads(recorded.read_text()) != manifest:
        differences.append(Difference(MANIFEST_NAME, "manifest out of date"))
    return differences


def _edited_since_generation(target: Path, relative: str, recorded: dict[str, str]) -> bool:
    existing = target / relative
    if not existing.exists():
        return False
    return recorded.get(relative) != _sha256(existing)


def refresh_generated_sources() -> None:
    """Rewrite the files in ``solutions/`` that are themselves derived (the keyless quiz files)."""
    from freezelab.quiz.__main__ import KEYLESS_TARGETS, keyless_text

    for quiz, path in KEYLESS_TARGETS.items():
        text = keyless_text(quiz)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")


def generate(target: Path = NOTEBOOKS_DIR, force: bool = False, solutions_dir: Path = SOLUTIONS_DIR) -> list[str]:
    """Regenerate ``target`` from ``solutions_dir``; returns the files written."""
    manifest_path = target / MANIFEST_NAME
    recorded = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    with tempfile.TemporaryDirectory(prefix="freezelab-release-") as scratch:
        fresh = generate_release(Path(scratch), solutions_dir)
        changed = [rel for rel, digest in fresh.items()
                   if not (target / rel).exists() or _sha256(target / rel) != digest]
        edited = [rel for rel in changed if _edited_since_generation(target, rel, recorded)]
        if edited and not force:
            listing = "\n  ".join(edited)
            raise SystemExit(
                "These learner notebooks were edited after they were generated, so regenerating "
                f"would lose that work:\n  {listing}\n"
                "Move them aside, or run with --force to regenerate and keep a .bak copy of each."
            )
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for rel in changed:
            destination = target / rel
            if rel in edited:
                shutil.copy2(destination, destination.with_name(f"{destination.name}.{stamp}.bak"))
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(Path(scratch) / rel, destination)
    manifest_path.parent.mkdir(parents=True, exist_ok=True)
    manifest_path.write_text(json.dumps(fresh, indent=1, sort_keys=True) + "\n")
    return changed


def check(target: Path = NOTEBOOKS_DIR) -> list[Difference]:
    """Generate into a scratch folder and list how ``target`` differs from it."""
    with tempfile.TemporaryDirectory(prefix="freezelab-release-") as scratch:
        manifest = generate_release(Path(scratch))
        return compare(Path(scratch), manifest, target)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m freezelab.build", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["generate", "check"])
    parser.add_argument("--force", action="store_true", help="overwrite edited learner copies (a .bak copy is kept)")
    args = parser.parse_args(argv)
    if args.command == "generate":
        refresh_generated_sources()
        written = generate(force=args.force)
        print(f"notebooks/: {len(written)} file(s) regenerated" + "".join(f"\n  {w}" for w in written))
        return 0
    differences = check()
    for difference in differences:
        print(f"{difference.path}: {difference.reason}")
    if differences:
        print("notebooks/ is stale: run `make notebooks`.")
        return 1
    print("notebooks/ matches solutions/.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
