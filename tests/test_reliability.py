

def test_a_killed_swap_is_undone_and_a_working_folder_is_never_replaced(tmp_path,
                                                                        monkeypatch):
    out = tmp_path / "out"
    aside = tmp_path / ".out.old-99999"              # killed between the two renames
    aside.mkdir()
    (aside / "runs.parquet").write_text("old")
    (tmp_path / ".out.staging-99999").mkdir()
    with OutputFolder(out):
        pass
    assert (out / "runs.parquet").read_text() == "old" and beside(out) == []
    monkeypatch.chdir(out)
    with pytest.raises(InputError, match="would replace the working folder"):
        with OutputFolder(Path(".")):
            pass
    (out / "mine").mkdir()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match="holds a folder 'mine' that this command did not"):
        with OutputFolder(out, owned=("scenarios",)):
            pass
