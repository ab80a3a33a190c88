"""The documentation's commands and configs are ones that work: every ``mlip-gnn`` command
line in README.md and docs/*.md (shell blocks and inline code) parses with the CLI's own
parser, the repository files they name exist, every ``make`` target and script shown
exists, the training and active-learning YAML shown validates against the schemas, the
annotated full config equals configs/full_reference.yaml, and every link between the
pages points at a page (and heading) that exists."""

import re
import shlex
from pathlib import Path

import pytest
import yaml

from mlip_gnn.cli.main import SUBCOMMANDS, build_parser

ROOT = Path(__file__).parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: folders of the repository whose files a command may name (others are made by the run)
REPO_FOLDERS = ("configs/", "scripts/", "lammps/", "benchmarks/", "docs/", "tests/")
#: wrappers before the command itself
ENV_WORD = re.compile(r"[A-Z_][A-Z0-9_]*=\S*")


def _blocks(text: str, languages=("bash", "sh", "console")):
    """Contents of the fenced code blocks in ``languages``."""
    pattern = r"```(\w*)\n(.*?)```"
    return [body for lang, body in re.findall(pattern, text, flags=re.S) if lang in languages]


def _shell_lines(text: str):
    """Commands of the shell blocks: continuations joined, split at ``&&``."""
    for block in _blocks(text):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            command = []
            for word in [*words, "&&"]:
                if word in ("&&", ";", "||"):
                    if command:
                        yield command
                    command = []
                else:
                    command.append(word)


def _inline_commands(text: str):
    """``mlip-gnn ...`` spans of inline code outside the fenced blocks."""
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    for span in re.findall(r"`(mlip-gnn [^`]+)`", prose):
        yield shlex.split(span)


def _mlip_argv(words):
    """The argument list after ``mlip-gnn`` (or ``python -m mlip_gnn``), else None."""
    words = [w for w in words if not ENV_WORD.fullmatch(w)] if words else words
    for i, word in enumerate(words):
        if Path(word).name == "mlip-gnn":
            return words[i + 1:]
        if word == "mlip_gnn" and i > 0 and words[i - 1] == "-m":
            return words[i + 1:]
    return None


def _all_commands(inline: bool):
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for words in (_inline_commands(text) if inline else _shell_lines(text)):
            yield page.relative_to(ROOT).as_posix(), words


#: command lines of the shell blocks; inline code that names a command and options
COMMANDS = list(_all_commands(inline=False))
MLIP_COMMANDS = [(page, argv) for page, words in COMMANDS
                 if (argv := _mlip_argv(words)) is not None]
INLINE = [(page, argv) for page, words in _all_commands(inline=True)
          if (argv := _mlip_argv(words)) is not None]


def test_the_docs_show_every_command():
    shown = {argv[0] for _, argv in MLIP_COMMANDS + INLINE if argv}
    assert set(SUBCOMMANDS) <= shown, sorted(set(SUBCOMMANDS) - shown)
    assert len(MLIP_COMMANDS) >= 20


@pytest.mark.parametrize("page, argv", MLIP_COMMANDS,
                         ids=[f"{p}:{' '.join(a)[:60]}" for p, a in MLIP_COMMANDS])
def test_every_mlip_gnn_command_shown_parses(page, argv, capsys):
    if argv and argv[0] == "COMMAND":  # `mlip-gnn COMMAND --help`: any command
        argv = ["train", *argv[1:]]
    try:
        build_parser().parse_args(argv)
    except SystemExit as exc:
        assert exc.code == 0 and {"--help", "--version"} & set(argv), \
            f"{page}: `mlip-gnn {' '.join(argv)}`: {capsys.readouterr().err}"
    for word in argv:
        for part in word.split("=")[-1:]:
            if part.startswith(REPO_FOLDERS) and "*" not in part:
                assert (ROOT / part).exists(), f"{page}: `mlip-gnn {' '.join(argv)}` names {part}"


def _subcommand_parser(argv):
    """The (sub)parser of ``argv``'s command words and the words left."""
    import argparse

    parser, words = build_parser(), list(argv)
    while words:
        choices = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not choices or words[0] not in choices[0].choices:
            break
        parser = choices[0].choices[words.pop(0)]
    return parser, words


@pytest.mark.parametrize("page, argv", INLINE,
                         ids=[f"{p}:{' '.join(a)[:60]}" for p, a in INLINE])
def test_every_command_and_option_named_in_the_text_exists(page, argv):
    """Inline code names a command and its options (``mlip-gnn md --compile``), or shows
    a whole command line, which then parses."""
    if argv and argv[0] == "COMMAND":  # `mlip-gnn COMMAND --help`: any command
        argv = ["train", *argv[1:]]
    parser, rest = _subcommand_parser(argv)
    assert parser.prog != "mlip-gnn" or set(rest) <= {"--version", "--help"}, \
        f"{page}: `mlip-gnn {' '.join(argv)}`: no such command"
    options = {o for a in parser._actions for o in a.option_strings}
    for word in rest:
        if word.startswith("-"):
            assert word.split("=")[0] in options, f"{page}: `mlip-gnn {' '.join(argv)}`"


def _targets():
    makefile = (ROOT / "Makefile").read_text()
    return set(re.findall(r"(?m)^([a-z][\w-]*):", makefile))


def test_make_targets_scripts_and_files_shown_exist():
    targets = _targets()
    for page, words in COMMANDS:
        words = [w for w in words if not ENV_WORD.fullmatch(w)]
        if not words:
            continue
        if words[0] == "make":
            for target in (w for w in words[1:] if not ENV_WORD.fullmatch(w)):
                assert target in targets, f"{page}: make {target}"
        for word in words:
            if word.startswith(REPO_FOLDERS) and "*" not in word:
                assert (ROOT / word).exists(), f"{page}: {' '.join(words)} names {word}"


def _yaml_blocks():
    for page in PAGES:
        for block in _blocks(page.read_text(encoding="utf-8"), ("yaml",)):
            yield page.relative_to(ROOT).as_posix(), yaml.safe_load(block)


def test_training_yaml_shown_is_valid(tmp_path):
    from mlip_gnn.config import Config, config_from_dict

    fields = set(Config.__dataclass_fields__)
    checked = 0
    for page, raw in _yaml_blocks():
        if not isinstance(raw, dict) or not set(raw) <= fields:
            continue
        raw.setdefault("data", {}).setdefault("train", "train.xyz")
        config_from_dict(raw, source=page)  # a ConfigError names the page and the key
        checked += 1
    assert checked >= 3


def test_active_learning_yaml_shown_is_valid():
    from mlip_gnn.active_learning.schema import al_config_from_dict

    blocks = [(p, raw) for p, raw in _yaml_blocks()
              if isinstance(raw, dict) and {"explore", "select", "label"} <= set(raw)]
    assert blocks
    for page, raw in blocks:
        al_config_from_dict(raw, page, ROOT / "configs" / "active_learning")


def test_the_annotated_full_config_is_the_reference_file():
    page = (ROOT / "docs" / "training.md").read_text(encoding="utf-8")
    (shown,) = [raw for raw in (yaml.safe_load(b) for b in _blocks(page, ("yaml",)))
                if isinstance(raw, dict) and "finetune" in raw and "output" in raw]
    assert shown == yaml.safe_load((ROOT / "configs" / "full_reference.yaml").read_text())


def _anchor(heading: str) -> str:
    """GitHub's anchor of a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_links_between_pages_resolve():
    for page in PAGES:
        text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if target.startswith(("http://", "https://")):
                continue
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            assert linked.exists(), f"{page.name}: link to {target}"
            if anchor and linked.suffix == ".md":
                headings = re.findall(r"(?m)^#+ (.+)$", re.sub(
                    r"```.*?```", "", linked.read_text(encoding="utf-8"), flags=re.S))
                assert anchor in {_anchor(h) for h in headings}, f"{page.name}: {target}"


def test_readme_stays_a_front_page():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) < 150
    linked = set(re.findall(r"\(docs/([\w.]+\.md)", "\n".join(lines)))
    assert linked == {p.name for p in (ROOT / "docs").glob("*.md")}


def test_the_cp2k_recipe_converts_units_and_reads_back(tmp_path, monkeypatch):
    """The CP2K block of docs/own_data.md, run on files in CP2K's trajectory format."""
    import numpy as np
    from ase.units import Bohr, Hartree

    from mlip_gnn.data import KeyMap, read_configurations

    (code,) = [b for b in _blocks((ROOT / "docs" / "own_data.md").read_text(), ("python",))
               if "run-pos-1.xyz" in b]
    rng = np.random.default_rng(0)
    positions = rng.uniform(0.0, 8.0, (2, 3, 3))
    forces_au = rng.normal(0.0, 0.01, (2, 3, 3))
    energies_au = [-34.4245370712, -34.4240001]

    def write(name, columns):
        lines = []
        for i, (rows, energy) in enumerate(zip(columns, energies_au)):
            lines += ["       3", f" i =        {i}, time =        {0.5 * i:.3f}, "
                      f"E =      {energy:.10f}"]
            lines += [f"  Cu {x:20.10f}{y:20.10f}{z:20.10f}" for x, y, z in rows]
        (tmp_path / name).write_text("\n".join(lines) + "\n")

    write("run-pos-1.xyz", positions)
    write("run-frc-1.xyz", forces_au)
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "own_data.md", "exec"), {})
    confs = read_configurations(tmp_path / "train.xyz", KeyMap(stress=None))
    assert len(confs) == 2
    for conf, pos, frc, energy in zip(confs, positions, forces_au, energies_au):
        assert conf.energy == pytest.approx(energy * Hartree, rel=1e-12)
        np.testing.assert_allclose(conf.forces, frc * Hartree / Bohr, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(conf.positions, pos, atol=1e-8)
