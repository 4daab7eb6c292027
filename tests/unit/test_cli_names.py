"""The command line's reading of photo folders (no server)."""
from app.cli import person_of


def test_person_names_from_folders_or_file_stems(tmp_path):
    assert person_of(tmp_path / "ada" / "x.jpg", tmp_path) == "ada"
    assert person_of(tmp_path / "barack_01.jpg", tmp_path) == "barack"
    assert person_of(tmp_path / "grace-hopper-2.png", tmp_path) == "grace-hopper"
