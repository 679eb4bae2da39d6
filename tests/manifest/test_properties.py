"""Property-based tests (hypothesis): the expansion rule, foreach x matrix, and hostile input."""

from __future__ import annotations

import itertools
import string
from fractions import Fraction
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kbatch import KbatchError, ManifestError, load_manifest, validate
from kbatch.manifest.checks import check_request, normalize
from kbatch.manifest.schema import FieldChecker, expanded_validator, field_schema, problems
from kbatch.provider.catalogue import PROVIDERS, JobKind, ProviderName
from tests.conftest import HEADER, IMAGES

RATIO = st.floats(min_value=0, max_value=2, allow_nan=False)
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@given(up=RATIO, down=RATIO, left=RATIO, right=RATIO)
def test_the_expansion_area_rule(up: float, down: float, left: float, right: float) -> None:
    request = normalize(
        JobKind.IMAGE_EXPAND,
        {
            "image": "x",
            "up_expansion_ratio": up,
            "down_expansion_ratio": down,
            "left_expansion_ratio": left,
            "right_expansion_ratio": right,
        },
    )
    found = check_request(JobKind.IMAGE_EXPAND, request, PROVIDERS[ProviderName.KLING], 9)
    exact = (1 + Fraction(left) + Fraction(right)) * (1 + Fraction(up) + Fraction(down))
    if exact <= 3:
        assert found == []  # never refuse a canvas that is within the rule
    elif exact > Fraction(3) + Fraction(1, 10**6):
        assert len(found) == 1  # always refuse one clearly past it


@FAST
@given(
    sides=st.dictionaries(
        st.sampled_from(["up", "down", "left", "right"]),
        st.sampled_from([0, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2]),
    )
)
def test_the_expansion_rule_through_the_loader(
    tmp_path_factory: Any, sides: dict[str, float]
) -> None:
    folder = tmp_path_factory.mktemp("m")
    (folder / "ok.png").write_bytes((IMAGES / "ok.png").read_bytes())
    fields = "".join(f"    {side}_expansion_ratio: {value}\n" for side, value in sides.items())
    path = folder / "m.yaml"
    path.write_text(HEADER + "jobs:\n  - kind: image_expand\n    image: ok.png\n" + fields)
    side = {name: Fraction(str(sides.get(name, 0))) for name in ("up", "down", "left", "right")}
    area = (1 + side["left"] + side["right"]) * (1 + side["up"] + side["down"])  # as written
    messages = [issue.message for issue in validate(path).issues]
    assert (messages == []) == (area <= 3)
    assert all(m.startswith("the expanded canvas would be") for m in messages)


NAMES = st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=4)


@FAST
@given(
    rows=st.lists(
        st.text(alphabet=string.ascii_letters + string.digits, min_size=1, max_size=6),
        max_size=6,
        unique=True,
    ),
    matrix=st.dictionaries(
        NAMES.map(lambda s: "m" + s),
        st.lists(st.integers(0, 99), min_size=1, max_size=3, unique=True),
        max_size=3,
    ),
)
def test_foreach_times_matrix(
    tmp_path_factory: Any, rows: list[str], matrix: dict[str, list[int]]
) -> None:
    folder: Path = tmp_path_factory.mktemp("m")
    (folder / "rows.csv").write_text("key\n" + "".join(f"{r}\n" for r in rows))
    keys = sorted(matrix)
    id_template = "-".join(["${key}", *(f"${{{k}}}" for k in keys)])
    entry: dict[str, Any] = {
        "kind": "image2video",
        "image": "https://e.com/a.png",
        "id": id_template,
        "foreach": "rows.csv",
        "prompt": "p ${key}",
    }
    if matrix:
        entry["matrix"] = {k: matrix[k] for k in keys}
    path = folder / "m.yaml"
    path.write_text(HEADER + yaml.safe_dump({"jobs": [entry]}))
    jobs = list(load_manifest(path).jobs())
    combos = list(itertools.product(*(matrix[k] for k in keys)))
    expected = ["-".join([row, *map(str, combo)]) for row in rows for combo in combos]
    assert [job.id for job in jobs] == expected
    assert len({job.fingerprint for job in jobs}) == len(rows)  # matrix keys here set no field


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=25,
)


@settings(max_examples=150, deadline=None)
@given(text=st.text(max_size=400))
def test_any_text_gives_issues_never_a_crash(tmp_path_factory: Any, text: str) -> None:
    path = tmp_path_factory.mktemp("m") / "m.yaml"
    path.write_text(text, encoding="utf-8")
    assert_only_kbatch_errors(path)


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=300))
def test_any_bytes_give_issues_never_a_crash(tmp_path_factory: Any, data: bytes) -> None:
    path = tmp_path_factory.mktemp("m") / "m.yaml"
    path.write_bytes(data)
    assert_only_kbatch_errors(path)


@settings(max_examples=150, deadline=None)
@given(
    kind=st.sampled_from(["image_expand", "multi_image2image", "image2video", "other"]),
    fields=st.dictionaries(
        st.sampled_from(
            [
                "image",
                "prompt",
                "n",
                "duration",
                "mode",
                "subject_image_list",
                "camera_control",
                "dynamic_masks",
                "foreach",
                "matrix",
                "id",
                "left_expansion_ratio",
                "cfg_scale",
                "image_tail",
                "aspect_ratio",
            ]
        ),
        JSON_VALUES,
        max_size=6,
    ),
    top=st.dictionaries(
        st.sampled_from(["limits", "output", "defaults", "provider", "name"]),
        JSON_VALUES,
        max_size=2,
    ),
)
def test_any_structure_gives_issues_never_a_crash(
    tmp_path_factory: Any, kind: str, fields: dict[str, Any], top: dict[str, Any]
) -> None:
    document = {
        "version": 1,
        "name": "t",
        "provider": "simulator",
        **top,
        "jobs": [{"kind": kind, **fields}],
    }
    path = tmp_path_factory.mktemp("m") / "m.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    assert_only_kbatch_errors(path)


def assert_only_kbatch_errors(path: Path) -> None:
    validation = validate(path)
    for issue in validation.issues:
        assert issue.location.line >= 1 and issue.location.column >= 1
        assert issue.path.startswith("$")
    try:
        jobs = list(load_manifest(path).jobs())
    except ManifestError as exc:
        assert exc.issues == validation.issues
    except KbatchError as exc:  # pragma: no cover - any other KbatchError is a finding too
        raise AssertionError(f"unexpected {exc!r}") from exc
    else:
        assert validation.ok and len(jobs) == validation.summary.total


@given(value=st.text(max_size=2600))
def test_plain_string_fields_answer_as_the_schema_would(value: str) -> None:
    checker = FieldChecker()
    for kind, field in [
        ("image2video", "prompt"),
        ("image2video", "negative_prompt"),
        ("image_expand", "image"),
        ("multi_image2image", "scene_image"),
    ]:
        full = problems(expanded_validator().evolve(schema=field_schema(kind, field)), value)
        assert checker.check(kind, field, value) == full
