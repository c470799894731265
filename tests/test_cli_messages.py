"""The command line's own messages: one-line argparse errors, the bare command's help."""
import pytest

from motiongen.cli import main


@pytest.mark.parametrize("argv, expected", [
    (["generate", "x", "--sampler", "dmp", "--out", "o"],
     "motiongen generate: error: argument --sampler: invalid choice: 'dmp' (choose from"),
    (["generate", "x", "--seconds", "four", "--out", "o"], "motiongen generate: error: argument --seconds:"),
    (["generate", "x"], "motiongen generate: error: the following arguments are required: --out"),
    (["convert", "a.bvh", "b.npy", "--rig", "mixamoo"], "motiongen convert: error: argument --rig: invalid choice"),
    (["data", "show", "d"], "motiongen data show: error: the following arguments are required"),
    (["generat", "x"], "motiongen: error: argument COMMAND: invalid choice: 'generat'"),
])
def test_argparse_errors_are_one_line_and_exit_2(argv, expected, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2
    assert err.startswith(expected), err
    assert err.count("\n") == 1 and "usage:" not in err, err


def test_help_is_still_full(capsys):
    with pytest.raises(SystemExit) as e:
        main(["generate", "-h"])
    out = capsys.readouterr().out
    assert e.value.code == 0 and out.startswith("usage: motiongen generate") and "--sampler" in out


def test_bare_motiongen_prints_the_help_and_exits_0(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: motiongen") and "generate" in out and "convert" in out


def test_data_show_names_the_missing_id_and_where_the_ids_are(tmp_path, capsys):
    import numpy as np
    (tmp_path / "new_joint_vecs").mkdir()
    np.save(tmp_path / "new_joint_vecs" / "000123.npy", np.zeros((4, 263), np.float32))
    (tmp_path / "all.txt").write_text("000123\n")
    out = tmp_path / "y.gif"
    for mid, hint in (("nosuchid", "(the ids are listed in all.txt)"), ("000124", "did you mean '000123'?"),
                      ("../new_joint_vecs/000123", "(the ids are listed in all.txt")):
        assert main(["data", "show", str(tmp_path), mid, "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"motiongen data show: error: {tmp_path}: no motion '{mid}' ") and hint in err, err
        assert "incomplete" not in err and not out.exists()


@pytest.mark.parametrize("flags, progress", [([], True), (["--quiet"], False)])
def test_edit_has_quiet_like_generate(flags, progress, tmp_path, monkeypatch, capsys):
    import motiongen.edit.editor as editor
    seen = {}

    def fake_edit(from_dir, instruction, **kw):
        seen.update(kw)
        raise ValueError("stopped here")
    monkeypatch.setattr(editor, "edit", fake_edit)
    assert main(["edit", "use the other hand", "--from", str(tmp_path), "--out", str(tmp_path / "o")] + flags) == 2
    assert "stopped here" in capsys.readouterr().err and seen["progress"] is progress


def test_convert_help_names_every_format_it_reads_and_writes(capsys):
    with pytest.raises(SystemExit):
        main(["convert", "-h"])
    text = " ".join(capsys.readouterr().out.split())
    for fmt in (".bvh", ".amc", ".asf", "DeepMimic .txt", "ASE .npz", "archive.zip::member", ".npy", ".glb", ".mp4",
                ".gif"):
        assert fmt in text, fmt
    assert main([]) == 0
    top = " ".join(capsys.readouterr().out.split())
    assert "ASF/AMC" in top and "GLB" in top
