"""Specification of the code's shape: the layout reads as the data path (docs/design.md).

These are the house rules a newcomer relies on when finding where a byte from a Mac goes: rooms
by stage, a small shared vocabulary at the top that depends on no stage, the twin a guest, and
modules named for what they hold. Each test names the offender when it fails.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RIG = ROOT / "rig"
ROOMS = ("lab", "drive", "runner", "parse", "score", "report", "cli", "twin")
#: The shared vocabulary allowed loose at the top of ``rig/`` (a dozen at most).
MAX_TOP_MODULES = 12


def _modules(base: Path = RIG):
    for p in sorted(base.rglob("*.py")):
        yield p, ast.parse(p.read_text(), str(p))


def _dotted(p: Path) -> str:
    parts = list(p.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(tree: ast.AST) -> list[tuple[str, list[str]]]:
    """(module, names) of every import in a module, function-level ones included."""
    out = []
    for n in ast.walk(tree):
        if isinstance(n, ast.Import):
            out.extend((a.name, []) for a in n.names)
        elif isinstance(n, ast.ImportFrom) and n.module and not n.level:
            out.append((n.module, [a.name for a in n.names]))
    return out


def _room(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "rig" or len(parts) < 2:
        return None
    return parts[1] if parts[1] in ROOMS else "<top>"


def test_every_stage_has_its_room():
    missing = [r for r in ROOMS if not (RIG / r / "__init__.py").exists()]
    assert not missing, f"rooms missing from rig/: {missing}"


def test_at_most_a_dozen_loose_modules_at_the_top():
    loose = sorted(p.name for p in RIG.glob("*.py") if p.name != "__init__.py")
    assert len(loose) <= MAX_TOP_MODULES, f"{len(loose)} loose modules at the top of rig/: {loose}"


def test_the_vocabulary_at_the_top_imports_no_room():
    """events, outcomes, metrics, journal ... are what every stage shares: they depend on none."""
    for p, tree in _modules():
        if p.parent != RIG:
            continue
        rooms = {_room(m) for m, _ in _imports(tree)} - {None, "<top>"}
        assert not rooms, f"rig/{p.name} imports rooms {sorted(rooms)}"


#: The code that starts the twin (the command line, and the twin's own modules).
TWIN_STARTERS = ("rig.cli", "rig.twin")


def test_the_twin_is_a_guest():
    """Nothing in the rig imports the twin except the code that starts it."""
    for p, tree in _modules():
        me = _dotted(p)
        if me.startswith(TWIN_STARTERS):
            continue
        twin = [m for m, _ in _imports(tree) if m == "rig.twin" or m.startswith("rig.twin.")]
        assert not twin, f"{me} imports the twin ({twin})"


def test_no_module_is_named_for_no_concept():
    vague = [str(p.relative_to(ROOT)) for p in RIG.rglob("*.py")
             if p.stem in ("utils", "helpers", "common", "misc", "manager")]
    assert not vague, vague


def test_no_compiled_code_and_no_compiler_in_set_up():
    """`rig parse` reads with well-kept libraries only: no C source, no extension build, and the
    set-up script fetches no compiler."""
    sources = [p.relative_to(ROOT) for ext in ("*.c", "*.h", "*.pyx", "*.cpp")
               for p in ROOT.glob(f"**/{ext}") if ".venv" not in p.parts and "build" not in p.parts]
    assert sources == []
    assert not (ROOT / "setup.py").exists()
    assert "ext_modules" not in (ROOT / "pyproject.toml").read_text()
    dev = (ROOT / "dev").read_text()
    assert "gcc" not in dev and "python3-dev" not in dev


def test_no_private_name_is_imported_across_modules():
    """A module's ``_private`` names are its own: what another module needs is public."""
    offenders = []
    for p, tree in [*_modules(), *_modules(ROOT / "fixtures")]:
        for module, names in _imports(tree):
            if module.startswith("rig"):
                offenders += [f"{_dotted(p)} imports {module}.{n}" for n in names
                              if n.startswith("_") and not n.startswith("__")]
    assert offenders == []


MAX_FUNCTION_LINES = 80
MAX_MODULE_LINES = 500


def test_functions_and_modules_are_small():
    """No function over 80 lines, no module over 500, in the library and the plugin: a function
    does one job with a name, a module holds one thing."""
    long_functions, big_modules = [], []
    for p, tree in [*_modules(), *_modules(ROOT / "fixtures")]:
        lines = len(p.read_text().splitlines())
        if lines > MAX_MODULE_LINES:
            big_modules.append(f"{p.relative_to(ROOT)}: {lines} lines")
        for n in ast.walk(tree):
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.end_lineno - n.lineno + 1 > MAX_FUNCTION_LINES:
                long_functions.append(f"{p.relative_to(ROOT)}:{n.lineno} {n.name}: {n.end_lineno - n.lineno + 1} lines")
    assert long_functions == [] and big_modules == []


def test_rooms_import_one_way():
    """The stages form no import cycle: following imports from any room never leads back to it
    (the score stage does not import the report stage, drivers do not import the runner, ...)."""
    edges: dict[str, set[str]] = {}
    for p, tree in _modules():
        me = _room(_dotted(p))
        if me in (None, "<top>"):
            continue
        for m, names in _imports(tree):
            for target in [m, *(f"{m}.{n}" for n in names)]:
                room = _room(target)
                if room not in (None, "<top>", me):
                    edges.setdefault(me, set()).add(room)

    def reaches(a: str, b: str, seen: frozenset = frozenset()) -> bool:
        return any(x == b or (x not in seen and reaches(x, b, seen | {x})) for x in edges.get(a, ()))

    cycles = sorted(f"{a} -> {b} -> ... -> {a}" for a in edges for b in edges[a] if reaches(b, a))
    assert cycles == []
