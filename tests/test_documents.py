"""`vlakit validate` checks documents that plugins register by a top-level key (not only recipes)."""

from __future__ import annotations

import pytest
from pydantic import Field

from vlakit.errors import RecipeError, VlakitError
from vlakit.plugins import ComponentConfig, Registration, Registry
from vlakit.recipes.documents import validate_document


class Gadget(ComponentConfig):
    gadget: str
    wheels: int = Field(ge=1)


def check_gadget(doc: Gadget) -> str:
    if doc.wheels == 13:
        raise VlakitError("13 wheels is unlucky")
    return f"{doc.gadget} on {doc.wheels} wheels"


@pytest.fixture
def registry() -> Registry:
    reg = Registry()
    reg.add(Registration("document", "gadget", check_gadget, Gadget, description="gadget sheet", dist="test-dist"))
    return reg


def test_a_registered_document_is_validated(tmp_path, registry):
    path = tmp_path / "g.yaml"
    path.write_text("gadget: cart\nwheels: 4\n")
    assert validate_document(path, registry) == "gadget sheet (cart on 4 wheels)"


def test_errors_name_file_line_and_path(tmp_path, registry):
    path = tmp_path / "g.yaml"
    path.write_text("gadget: cart\nwheels: 0\nwings: 2\n")
    with pytest.raises(RecipeError) as err:
        validate_document(path, registry)
    text = str(err.value)
    assert f"{path}:2: wheels:" in text and f"{path}:3: wings: unknown key 'wings'" in text
    path.write_text("gadget: cart\nwheels: 13\n")
    with pytest.raises(VlakitError, match="unlucky"):
        validate_document(path, registry)


def test_a_file_without_a_registered_key_is_not_a_document(tmp_path, registry):
    path = tmp_path / "recipe.yaml"
    path.write_text("name: x\ntrainer: {max_steps: 1}\n")
    assert validate_document(path, registry) is None
